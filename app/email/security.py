"""Who sent this mail, may we answer it, and is it a reply to one of ours.

- Signed reply addresses: ``reply+<token>@<mail_domain>``; the token is lower-case base32 of the member id,
  the purpose, the expiry hour and a truncated HMAC-SHA256 (80 bits). It is signed with a key derived from
  the first ``ARDOISE_SECRET_KEY`` and checked against every configured key, so rotating the secret keeps
  the tokens already sent valid until they expire. Local part: 37 characters (RFC 5321 allows 64).
- Loops: :func:`auto_reason` says why a mail must never be answered (RFC 3834, RFC 5230, DSN/MDN,
  Microsoft headers, mailing lists, our own domain).
- Authenticity: :func:`authenticate` reports an aligned DKIM pass (verified here with dkimpy; DNS through an
  injectable ``dnsfunc``) or an aligned SPF/DKIM/DMARC pass read from the Authentication-Results header of a
  trusted upstream (its authserv-id is configured; other A-R headers are ignored, since anyone can write one).
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import authres  # type: ignore[import-untyped]
import structlog

from app.email.parse import ParsedEmail
from app.email.tokens import DEFAULT_TOKEN_DAYS, PURPOSES, Token, make_token, read_token, reply_address

__all__ = [
    "DEFAULT_TOKEN_DAYS",
    "PURPOSES",
    "Authenticity",
    "Token",
    "aligned",
    "authenticate",
    "auto_reason",
    "from_upstream",
    "make_token",
    "read_token",
    "reply_address",
    "verify_dkim",
]

log = structlog.get_logger("ardoise.email")

DnsFunc = Callable[..., bytes | None]


# --- loops and automatic mail ----------------------------------------------------------------------

_AUTO_SUBJECT = re.compile(
    r"^\s*(?:r[ée]ponse automatique|automatic reply|auto(?:matic)?[- ]?reply|autoreply|absent du bureau|"
    r"absence du bureau|out of (?:the )?office|auto:|undeliverable|non remis|d[ée]livrance impossible|"
    r"delivery status notification|mail delivery (?:failed|failure)|returned mail|undelivered mail|"
    r"message non distribu[ée]|accus[ée] de r[ée]ception|read:|lu\s*:)",
    re.IGNORECASE,
)
_ROBOT_LOCAL = re.compile(
    r"^(?:mailer-daemon|postmaster|no-?reply|do-?not-?reply|ne-?pas-?repondre|bounces?|daemon)(?:[+.\-_].*)?$",
    re.IGNORECASE,
)


def auto_reason(p: ParsedEmail, *, envelope_from: str | None, mail_domain: str = "") -> str | None:
    """Why this mail must never get an automatic answer, or None when it is a person's mail.

    ``envelope_from`` is the SMTP ``MAIL FROM`` (``""`` for the null reverse-path ``<>`` of bounces); None
    when unknown (IMAP, webhooks), then ``Return-Path`` is read instead.
    """
    h = p.headers
    auto = h.get("auto-submitted", "").split(";")[0].strip().lower()
    if auto and auto != "no":
        return f"auto-submitted: {auto}"
    if h.get("precedence", "").strip().lower() in ("bulk", "junk", "list", "auto_reply"):
        return f"precedence: {h['precedence'].strip().lower()}"
    for name in ("list-id", "list-unsubscribe", "list-post"):
        if name in h:
            return f"mailing list ({name})"
    for name in ("x-autoreply", "x-autorespond", "x-failed-recipients"):
        if name in h:
            return name
    suppress = h.get("x-auto-response-suppress", "").lower()
    if any(v in suppress for v in ("all", "oof", "autoreply")):
        return "x-auto-response-suppress"  # only robots (and we) set it
    if "ardoise" in h.get("x-loop", "").lower():
        return "x-loop"
    if p.content_type == "multipart/report":
        return "delivery or read report"
    if envelope_from is not None:
        if envelope_from.strip() in ("", "<>"):
            return "null return path"
    elif h.get("return-path", "").strip() in ("<>", "") and "return-path" in h:
        return "null return path"
    local, _, domain = p.from_addr.rpartition("@")
    if not p.from_addr:
        return "no sender address"
    if _ROBOT_LOCAL.match(local):
        return f"robot sender ({local})"
    if mail_domain and (domain == mail_domain.lower() or domain.endswith("." + mail_domain.lower())):
        return "from our own domain"
    if _AUTO_SUBJECT.match(p.subject):
        return "auto-reply subject"
    return None


# --- sender authenticity ---------------------------------------------------------------------------


def aligned(a: str, b: str) -> bool:
    """Relaxed alignment, approximated without a public-suffix list: the same domain or one inside the other
    (``mail.bistro.ca`` ↔ ``bistro.ca``); two siblings under a shared suffix never align."""
    a, b = a.lower().strip(".").rpartition("@")[2], b.lower().strip(".").rpartition("@")[2]
    if not a or not b:
        return False
    return a == b or a.endswith("." + b) or b.endswith("." + a)


@dataclass(frozen=True, slots=True)
class Authenticity:
    aligned: bool
    method: str = ""  # "dkim" | "upstream:spf" | "upstream:dkim" | "upstream:dmarc" | ""
    detail: str = ""


def from_upstream(p: ParsedEmail, trusted_ids: Sequence[str]) -> Authenticity | None:
    """The verdict of the first Authentication-Results header whose authserv-id we trust, if any."""
    trusted = {t.strip().lower() for t in trusted_ids if t.strip()}
    if not trusted:
        return None
    domain = p.from_addr.rpartition("@")[2]
    for value in p.auth_results:
        try:
            header = authres.AuthenticationResultsHeader.parse_value(value)
        except Exception:
            continue
        if str(header.authserv_id).lower() not in trusted:
            continue
        for r in header.results:
            method, result = str(r.method).lower(), str(r.result).lower()
            if result != "pass":
                continue
            props = {(str(x.type).lower(), str(x.name).lower()): str(x.value) for x in r.properties}
            if method == "dmarc" and aligned(props.get(("header", "from"), ""), domain):
                return Authenticity(True, "upstream:dmarc", header.authserv_id)
            if method == "dkim" and aligned(props.get(("header", "d"), ""), domain):
                return Authenticity(True, "upstream:dkim", props.get(("header", "d"), ""))
            if method == "spf":
                envelope = props.get(("smtp", "mailfrom"), "") or props.get(("smtp", "helo"), "")
                if aligned(envelope, domain):
                    return Authenticity(True, "upstream:spf", envelope)
        return Authenticity(False, "upstream", f"no aligned pass from {header.authserv_id}")
    return None


def verify_dkim(raw: bytes, from_domain: str, *, dnsfunc: DnsFunc | None = None) -> Authenticity:
    """Check every DKIM-Signature (at most five) until one passes with ``d=`` aligned with the From domain."""
    # dkimpy and dnspython load with the first mail to check, not at start: about 2.5 MB and 0.1 s in every process.
    import dkim  # type: ignore[import-untyped]

    try:
        d = dkim.DKIM(raw, minkey=1024, timeout=5)
        count = len([h for h in d.headers if h[0].lower() == b"dkim-signature"])
    except Exception as exc:
        return Authenticity(False, "dkim", f"unparsable: {type(exc).__name__}")
    if not count:
        return Authenticity(False, "dkim", "no signature")
    last = "fail"
    for idx in range(min(count, 5)):
        try:
            ok = d.verify(idx=idx, dnsfunc=dnsfunc) if dnsfunc else d.verify(idx=idx)
        except Exception as exc:  # a DNS failure or a malformed signature is a fail, not a crash
            last = f"error: {type(exc).__name__}"
            continue
        signer = (d.domain or b"").decode("ascii", "replace")
        if ok and aligned(signer, from_domain):
            return Authenticity(True, "dkim", signer)
        last = f"{'pass, not aligned' if ok else 'fail'} (d={signer})"
    return Authenticity(False, "dkim", last)


async def authenticate(
    raw: bytes,
    p: ParsedEmail,
    *,
    trusted_authserv_ids: Sequence[str] = (),
    check_dkim: bool = True,
    dnsfunc: DnsFunc | None = None,
) -> Authenticity:
    """Aligned pass from a trusted upstream, else our own DKIM check (in a thread: dkimpy's DNS blocks)."""
    upstream = from_upstream(p, trusted_authserv_ids)
    if upstream is not None and upstream.aligned:
        return upstream
    if not check_dkim or not p.from_addr:
        return upstream or Authenticity(False, "", "not checked")
    result = await asyncio.to_thread(verify_dkim, raw, p.from_addr.rpartition("@")[2], dnsfunc=dnsfunc)
    return result
