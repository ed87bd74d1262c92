"""Settings: the only reader of the environment. Variables are prefixed ``ARDOISE_``; a ``.env`` file is read too."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_POLL_MINUTES: dict[str, int] = {
    "bluesky": 5,
    "mastodon": 5,
    "facebook": 5,
    "instagram": 5,
    "google": 15,
    "x": 15,
}
"""How often each network's accounts are polled for mentions (docs/mentions.md gives the rate limits behind them).
Facebook and Instagram also push webhooks, Google Pub/Sub: for them polling is the safety net."""
POLL_MINUTES_MAX = 24 * 60
PLACEHOLDER_SECRET = "dev-insecure-secret-key-change-me"
SECRET_KEY_MIN_LENGTH = 32
"""Shortest ``ARDOISE_SECRET_KEY`` accepted in production (each key of a comma-separated list)."""
DATABASE_SCHEMES = ("sqlite", "postgresql", "postgres")
DEV_TWILIO_TOKEN = "dev-twilio-auth-token"


class Settings(BaseSettings):
    """Every setting of Ardoise; docs/configuration.md describes each one."""

    model_config = SettingsConfigDict(env_prefix="ARDOISE_", env_file=".env", extra="ignore")

    env: Literal["dev", "prod"] = "dev"  # "production" is read as "prod"
    database_url: str = "sqlite:///./ardoise.db"
    public_url: str = "http://127.0.0.1:8000"
    # Comma-separated; the first key encrypts, every key decrypts (rotation: put the new key first).
    secret_key: SecretStr = SecretStr(PLACEHOLDER_SECRET)
    log_level: str = "INFO"
    log_format: Literal["auto", "console", "json"] = "auto"
    media_dir: Path = Path("./media")

    # Job engine
    # Jobs a worker runs at once. Most wait on a network (asyncio: an idle job costs a few KB), so the default is
    # large enough for a network answering in 300 ms to take about 200 posts/s from one worker.
    worker_concurrency: int = Field(default=128, ge=1, le=1024)
    worker_poll_interval: float = Field(default=0.5, gt=0)
    # Jobs of one network a worker runs at once (0: half of worker_concurrency), so a network that hangs
    # leaves slots for the others.
    worker_network_concurrency: int = Field(default=0, ge=0)
    network_timeout_seconds: float = Field(default=60.0, gt=0)  # one network operation, all requests included
    job_lease_seconds: int = Field(default=120, ge=5)
    job_max_attempts: int = Field(default=8, ge=1)
    job_backoff_base: float = Field(default=5.0, gt=0)
    job_backoff_cap: float = Field(default=3600.0, gt=0)
    reaper_interval: float = Field(default=15.0, gt=0)
    worker_metrics_port: int = Field(default=0, ge=0, le=65535)  # `ardoise worker` serves /metrics here (0: off)
    receipt_deadline_seconds: float = Field(default=60.0, gt=0)

    # Retention (app/maintenance/prune.py): what the scheduled prune (and `ardoise prune`) deletes
    retention_messages_days: int = Field(default=90, ge=1)  # SMS/emails in and out, status events, dead jobs
    retention_jobs_days: int = Field(default=7, ge=1)  # done jobs
    retention_audit_days: int = Field(default=365, ge=1)
    retention_prune_hours: int = Field(default=6, ge=1, le=168)  # how often the prune job runs

    # SMS
    sms_provider: Literal["auto", "console", "twilio"] = "auto"
    twilio_account_sid: str = ""
    twilio_auth_token: SecretStr = SecretStr("")
    twilio_auth_token_secondary: SecretStr = SecretStr("")
    twilio_api_base_url: str = "https://api.twilio.com"
    twilio_messaging_service_sid: str = ""
    twilio_media_max_bytes: int = 5 * 1024 * 1024
    twilio_reconcile_minutes: int = Field(default=5, ge=1)
    sms_commands_per_hour: int = Field(default=30, ge=1)
    sms_loop_guard_count: int = Field(default=5, ge=1)
    sms_loop_guard_minutes: int = Field(default=10, ge=1)
    sms_max_chars: int = 1600
    sms_max_media: int = 10
    confirm_minutes: int = 30
    docs_in_production: bool = False  # /docs, /redoc and /openapi.json are off with env=prod unless true
    pin_unseen_days: int = 30

    # Reading a chalkboard photo (app/ocr/, docs/commands.md): engine "off" disables it
    ocr_engine: Literal["rapidocr", "tesseract", "off"] = "rapidocr"
    ocr_tesseract_cmd: str = "tesseract"
    ocr_timeout_seconds: float = Field(default=20.0, gt=0, le=90)  # per image, in the worker's OCR process
    ocr_memory_mb: int = Field(default=1536, ge=256)  # RLIMIT_AS of the OCR process
    ocr_max_side: int = Field(default=1600, ge=320, le=4000)  # larger photos are scaled down before reading

    # Email
    smtp_host: str = "127.0.0.1"
    smtp_port: int = 2525
    smtp_enabled: bool = True
    mail_domain: str = "ardoise.localhost"
    max_body_bytes: int = Field(default=2 * 1024 * 1024, ge=1024)
    smtp_relay_url: SecretStr = SecretStr("")  # smtp://user:pass@host:587 (STARTTLS) or smtps://...
    smtp_tls_cert: str = ""
    smtp_tls_key: str = ""
    smtp_rate_per_minute: int = Field(default=30, ge=1)
    email_max_bytes: int = Field(default=10 * 1024 * 1024, ge=1024)
    email_auto_per_hour: int = Field(default=10, ge=1)
    email_trusted_authserv_ids: str = ""
    email_verify_dkim: bool = True
    imap_url: SecretStr = SecretStr("")  # imaps://user:pass@host/INBOX
    imap_poll_seconds: int = Field(default=60, ge=10)
    mailgun_signing_key: SecretStr = SecretStr("")

    operator_webhook_url: str = ""
    # Operator console (/admin): how long a sign-in lasts, and the SMS price its cost estimate uses.
    admin_session_minutes: int = Field(default=480, ge=5, le=7 * 24 * 60)
    sms_segment_price: float = Field(default=0.0083, ge=0, le=10)
    sms_price_currency: str = Field(default="USD", min_length=1, max_length=8)

    # Outbound requests to URLs that tenants, owners or webhooks supply (app/kit/egress.py): off, only public
    # https addresses are fetched; on, any address over http or https (tests, private deployments).
    allow_private_networks: bool = False
    egress_timeout_seconds: float = Field(default=30.0, gt=0)

    # OAuth apps for the networks linked through /connect (docs/networks.md)
    facebook_app_id: str = ""
    facebook_app_secret: SecretStr = SecretStr("")
    facebook_graph_version: str = "v23.0"
    google_client_id: str = ""
    google_client_secret: SecretStr = SecretStr("")
    x_client_id: str = ""
    x_client_secret: SecretStr = SecretStr("")
    connect_link_hours: int = Field(default=72, ge=1, le=720)
    meta_verify_token: str = ""  # the token Meta sends when it checks /webhooks/meta
    google_pubsub_token: SecretStr = SecretStr("")  # ?token= on the Pub/Sub push subscription URL

    # Mention polling: "network=minutes" pairs overriding DEFAULT_POLL_MINUTES, e.g. "x=30,google=60"
    mention_poll_minutes: str = ""
    # M polls the business's accounts first; the answer waits at most this long for them (then shows what came)
    mention_command_poll_seconds: float = Field(default=8.0, ge=0, le=10)

    @field_validator("env", mode="before")
    @classmethod
    def _env_synonyms(cls, v: object) -> object:
        if isinstance(v, str) and v.strip().lower() in ("prod", "production"):
            return "prod"
        if isinstance(v, str) and v.strip().lower() in ("dev", "development"):
            return "dev"
        return v

    @field_validator("public_url")
    @classmethod
    def _strip_slash(cls, v: str) -> str:
        return v.rstrip("/")

    @field_validator("database_url")
    @classmethod
    def _check_database_url(cls, v: str) -> str:
        scheme = v.partition(":")[0].partition("+")[0].lower()
        if scheme not in DATABASE_SCHEMES or "://" not in v:
            raise ValueError(
                f"{scheme or v[:20]!r} is not supported: use sqlite:///path/to/ardoise.db "
                "or postgresql://user:password@host/database"
            )
        return v

    @field_validator("mention_poll_minutes")
    @classmethod
    def _check_poll_minutes(cls, v: str) -> str:
        parse_poll_minutes(v)
        return v

    def poll_minutes(self) -> dict[str, int]:
        """Minutes between two mention polls of one account, per network (a network not named: 5)."""
        return {**DEFAULT_POLL_MINUTES, **parse_poll_minutes(self.mention_poll_minutes)}

    @model_validator(mode="after")
    def _enforce_secrets(self) -> Settings:
        if self.env == "prod":
            keys = self.secret_keys()
            if not keys or any(k == PLACEHOLDER_SECRET or len(k) < SECRET_KEY_MIN_LENGTH for k in keys):
                raise ValueError(
                    "ARDOISE_SECRET_KEY is missing, too short or the development placeholder: "
                    f"set one or more random keys of at least {SECRET_KEY_MIN_LENGTH} characters in production"
                )
        return self

    def secret_keys(self) -> list[str]:
        return [k.strip() for k in self.secret_key.get_secret_value().split(",") if k.strip()]

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    def twilio_validation_tokens(self) -> list[str]:
        """Tokens to validate X-Twilio-Signature with (primary, then secondary during rotation). Without a
        configured token: the public development token in development, NOTHING in production (every Twilio
        webhook is then refused: the development token is in the source code, anyone can sign with it)."""
        tokens = [t.get_secret_value() for t in (self.twilio_auth_token, self.twilio_auth_token_secondary)]
        tokens = [t for t in tokens if t]
        if tokens or self.env == "prod":
            return tokens
        return [DEV_TWILIO_TOKEN]

    @property
    def twilio_dev_token_in_use(self) -> bool:
        """Twilio webhooks are checked with the public development token (development only)."""
        return self.env == "dev" and not self.twilio_auth_token.get_secret_value()

    @property
    def sms_uses_twilio(self) -> bool:
        if self.sms_provider == "twilio":
            return True
        if self.sms_provider == "console":
            return False
        return bool(self.twilio_account_sid and self.twilio_auth_token.get_secret_value())


@lru_cache
def get_settings() -> Settings:
    return Settings()


def settings_error_line(exc: ValidationError) -> str:
    """One plain line for an invalid configuration (``ardoise`` prints it instead of pydantic's traceback).
    Names the variables, never echoes their values (one may be a secret)."""
    parts = []
    for err in exc.errors():
        field = ".".join(str(x) for x in err.get("loc", ()))
        msg = str(err.get("msg", "invalid")).removeprefix("Value error, ")
        name = f"ARDOISE_{field.upper()}" if field else ""
        parts.append(f"{name}: {msg}" if name and name not in msg else msg)
    return "configuration error: " + "; ".join(parts or ["invalid settings"])


def parse_poll_minutes(raw: str) -> dict[str, int]:
    """``"x=30, google=60"`` → ``{"x": 30, "google": 60}``; minutes from 1 to 1,440 (one day)."""
    out: dict[str, int] = {}
    for part in raw.split(","):
        if not part.strip():
            continue
        name, sep, minutes = part.partition("=")
        name = name.strip().lower()
        if not sep or not name or not minutes.strip().isdigit():
            raise ValueError(f"ARDOISE_MENTION_POLL_MINUTES: {part.strip()!r} is not network=minutes")
        value = int(minutes)
        if not 1 <= value <= POLL_MINUTES_MAX:
            raise ValueError(f"ARDOISE_MENTION_POLL_MINUTES: {name} must be polled every 1 to {POLL_MINUTES_MAX} min")
        out[name] = value
    return out
