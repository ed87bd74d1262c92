"""Inbound mention webhooks: Meta (Facebook Page ``feed``, Instagram ``comments`` / ``mentions``) and Google Business
Profile notifications through Pub/Sub push.

``GET /webhooks/meta``: Meta's verification request. ``hub.mode=subscribe`` and ``hub.verify_token`` equal to the
setting ``meta_verify_token`` answer ``hub.challenge`` as text/plain; anything else is 403.

``POST /webhooks/meta``: the body is checked against ``X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the raw body
with the app secret>`` (setting ``facebook_app_secret``) with a constant-time comparison *before* anything is parsed;
a missing or wrong signature (or no secret configured) is 403 and nothing is stored. A signed payload is turned into
mentions and stored in one transaction with :func:`app.mentions.service.store` (unique per account and remote id,
so a notification Meta delivers twice is stored once), and questions / low ratings enqueue ``mentions.alert`` in the
same transaction, as the poll does. The answer is 200 as soon as the transaction commits; Meta retries on anything
else, so a signed payload we cannot use is logged and acknowledged. Handled:

- ``object=page``, field ``feed``, ``item=comment``, ``verb=add``: a comment on the Page's content (the Page's own
  comments are skipped); ``item`` ``status`` / ``post`` / ``photo`` / ``video`` with ``verb=add`` from someone else:
  a visitor post on the Page (kind ``mention``);
- ``object=instagram``, field ``comments``: a comment on the account's media (the account's own are skipped);
- ``object=instagram``, field ``mentions``: ids only, so a ``mentions.instagram_mention`` job reads the item
  (:meth:`app.networks.instagram.Instagram.mentioned`) and stores it.

Finding the account: Meta sends the Page id / Instagram account id; they live in the encrypted credentials
(``page_id`` / ``ig_user_id``), so the active accounts of that network are decrypted and compared. That is one
decryption per linked account of the network per notification: fine for hundreds of accounts; past that, keep the
id in ``NetworkAccount.settings`` (or a column) at link time and look it up there.

``POST /webhooks/google/pubsub?token=…``: a Pub/Sub push (``{"message": {"data": base64(JSON), "attributes",
"messageId", "publishTime"}, "subscription"}``). Authentication is the shared secret in the push endpoint's query
string, compared in constant time with the setting ``google_pubsub_token`` (no token configured: 403). Pub/Sub can also
sign pushes with an OIDC JWT in ``Authorization`` (a service account, audience = the endpoint); that mode is not
implemented here, the query-string token is the supported one. ``NEW_REVIEW`` / ``UPDATED_REVIEW`` enqueue an
immediate ``mentions.poll`` of the account that has that location (dedup key with the review name), since the
notification carries names only and the poll already knows how to read, number and store reviews. Any other type,
an unknown location or an unreadable message is acknowledged (204) and logged: a non-2xx answer would make Pub/Sub
redeliver it for days.

Bodies over 1 MB are refused with 413 before any parsing.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Annotated, Any

import structlog
from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import PlainTextResponse
from pydantic import SecretStr
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from app.accounts.credentials import account_credentials, mark_account_broken
from app.deps import RuntimeDep
from app.errors import AppError, Forbidden
from app.kit.crypto import same_text
from app.kit.errors import AuthError, PermanentError
from app.mentions import service as mention_service
from app.models import AccountStatus, Business, MentionRow, NetworkAccount
from app.networks.base import Mention, ReplyTarget
from app.networks.facebook import comment_mention, graph_obj, parse_graph_time
from app.networks.instagram import comment_mention as ig_comment_mention
from app.runtime import Runtime
from app.worker import queue
from app.worker.runner import JobInfo

router = APIRouter(prefix="/webhooks", tags=["webhooks"])
log = structlog.get_logger("ardoise.mentions.webhooks")

MAX_BODY = 1_000_000
GOOGLE_REVIEW_TYPES = frozenset({"NEW_REVIEW", "UPDATED_REVIEW"})
_FEED_POST_ITEMS = frozenset({"status", "post", "photo", "video"})
INSTAGRAM_MENTION_TASK = "mentions.instagram_mention"


class TooLarge(AppError):
    status_code, code, title = 413, "too_large", "Payload too large"


def setting(rt: Runtime, name: str) -> str:
    """A setting as plain text, "" when the settings do not have it (yet) or it is empty."""
    value = getattr(rt.settings, name, "")
    if isinstance(value, SecretStr):
        value = value.get_secret_value()
    return str(value or "")


def same_secret(given: str, expected: str) -> bool:
    """Constant-time comparison; an empty expected value never matches (the endpoint is disabled)."""
    return bool(expected) and same_text(given, expected)


def meta_signature_ok(app_secret: str, body: bytes, header: str | None) -> bool:
    """``X-Hub-Signature-256`` is ``sha256=`` + hex HMAC-SHA256 of the raw body keyed with the app secret."""
    if not app_secret or not header or not header.startswith("sha256="):
        return False
    expected = hmac.new(app_secret.encode(), body, hashlib.sha256).hexdigest()
    return same_text(header.removeprefix("sha256=").strip().lower(), expected)


async def limited_body(request: Request) -> bytes:
    """The raw body, refused (413) past ``MAX_BODY`` whether or not ``Content-Length`` says so."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY:
        raise TooLarge(f"body over {MAX_BODY} bytes")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY:
            raise TooLarge(f"body over {MAX_BODY} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


# --- Meta ----------------------------------------------------------------------------------------------------


@router.get("/meta", response_class=PlainTextResponse)
async def meta_verify(
    rt: RuntimeDep,
    mode: Annotated[str, Query(alias="hub.mode")] = "",
    verify_token: Annotated[str, Query(alias="hub.verify_token")] = "",
    challenge: Annotated[str, Query(alias="hub.challenge", max_length=200)] = "",
) -> PlainTextResponse:
    if mode != "subscribe" or not same_secret(verify_token, setting(rt, "meta_verify_token")):
        log.warning("meta.verify_refused", mode=mode[:20])
        raise Forbidden("webhook verification refused")
    return PlainTextResponse(challenge)


@dataclass(frozen=True, slots=True)
class MetaChange:
    """One usable change of a signed Meta notification."""

    network: str  # facebook | instagram
    owner_id: str  # the Page id / the Instagram professional account id (``entry.id``)
    field: str  # feed | comments | mentions
    value: Mapping[str, Any]
    time: datetime | None = None


def meta_changes(payload: Any) -> list[MetaChange]:
    """The changes of a Meta notification that may carry mentions, in order."""
    if not isinstance(payload, dict):
        return []
    network = {"page": "facebook", "instagram": "instagram"}.get(str(payload.get("object") or ""))
    entries = payload.get("entry")
    if network is None or not isinstance(entries, list):
        return []
    out: list[MetaChange] = []
    for entry in entries:
        if not isinstance(entry, dict) or not entry.get("id"):
            continue
        changes = entry.get("changes")
        # Instagram (Business Login) examples put ``field`` / ``value`` on the entry itself.
        listed = changes if isinstance(changes, list) else [entry] if "field" in entry else []
        for change in listed:
            if not isinstance(change, dict) or not isinstance(change.get("value"), dict):
                continue
            name = str(change.get("field") or "")
            if (network, name) in (("facebook", "feed"), ("instagram", "comments"), ("instagram", "mentions")):
                out.append(MetaChange(network, str(entry["id"]), name, change["value"], _epoch(entry.get("time"))))
    return out


def facebook_mention(change: MetaChange) -> Mention | None:
    """A ``feed`` change as a Mention: a new comment, or a new visitor post; None for anything else."""
    value = change.value
    if value.get("verb") != "add":
        return None
    author = graph_obj(value.get("from"))
    created = _epoch(value.get("created_time")) or parse_graph_time(value.get("created_time")) or change.time
    item = str(value.get("item") or "")
    if item == "comment":
        return comment_mention(
            comment_id=str(value.get("comment_id") or ""),
            post_id=str(value.get("post_id") or ""),
            parent_id=str(value.get("parent_id") or ""),
            author_id=str(author.get("id") or ""),
            author=str(author.get("name") or ""),
            text=str(value.get("message") or ""),
            created_at=created,
            page_id=change.owner_id,
        )
    post_id = str(value.get("post_id") or "")
    if item in _FEED_POST_ITEMS and post_id and str(author.get("id") or "") not in ("", change.owner_id):
        return Mention(
            remote_id=post_id,
            kind="mention",
            author=str(author.get("name") or "Facebook"),
            text=str(value.get("message") or ""),
            target=ReplyTarget(remote_id=post_id),
            url=str(value.get("link") or f"https://www.facebook.com/{post_id}"),
            created_at=created,
        )
    return None


def instagram_mention(change: MetaChange, own_username: str) -> Mention | None:
    """A ``comments`` change as a Mention (the account's own comments give None)."""
    value = change.value
    media = graph_obj(value.get("media"))
    mention = ig_comment_mention(
        value,
        media_id=str(media.get("id") or ""),
        parent_id=str(value.get("parent_id") or ""),
        own=(change.owner_id, own_username.strip().lstrip("@").lower()),
    )
    if mention is None or mention.created_at is not None or change.time is None:
        return mention
    return replace(mention, created_at=change.time)


@dataclass
class _Account:
    account: NetworkAccount
    business: Business
    data: dict[str, str] = field(default_factory=dict)


async def accounts_by_remote_id(s: AsyncSession, rt: Runtime, network: str, key: str) -> dict[str, list[_Account]]:
    """Active accounts of ``network`` (of live businesses) by the credential ``key`` (``page_id``, ``ig_user_id``).
    Decrypts each one: see the module docstring."""
    rows = (
        await s.execute(
            select(NetworkAccount, Business)
            .join(Business, col(Business.id) == col(NetworkAccount.business_id))
            .where(
                col(NetworkAccount.network) == network,
                col(NetworkAccount.status) == AccountStatus.active.value,
                col(Business.deleted_at).is_(None),
            )
        )
    ).all()
    out: dict[str, list[_Account]] = {}
    for acct, biz in rows:
        try:
            data = rt.vault.decrypt(acct.credentials)
        except ValueError:
            log.warning("webhook.undecryptable", account_id=acct.id)
            continue
        if remote := data.get(key, "").strip():
            out.setdefault(remote, []).append(_Account(acct, biz, data))
    return out


async def store_and_alert(s: AsyncSession, acct: NetworkAccount, items: Sequence[Mention]) -> list[MentionRow]:
    """Store new items once and enqueue an alert for questions and ratings of 3 or less (same transaction)."""
    new = await mention_service.store(s, account=acct, items=items)
    urgent = [m for m in new if m.is_question or (m.rating is not None and m.rating <= 3)]
    if urgent:
        await queue.enqueue(
            s,
            "mentions.alert",
            {"business_id": acct.business_id, "mention_ids": [m.id for m in urgent]},
            business_id=acct.business_id,
        )
    return new


@router.post("/meta")
async def meta_event(request: Request, rt: RuntimeDep) -> Response:
    body = await limited_body(request)
    if not meta_signature_ok(setting(rt, "facebook_app_secret"), body, request.headers.get("x-hub-signature-256")):
        log.warning("meta.forged", has_signature="x-hub-signature-256" in request.headers, size=len(body))
        raise Forbidden("invalid X-Hub-Signature-256")
    try:
        payload = json.loads(body)
    except ValueError:
        log.warning("meta.unreadable", size=len(body))
        return Response(status_code=200)
    changes = meta_changes(payload)
    stored = await handle_meta_changes(rt, changes)
    log.info("meta.webhook", changes=len(changes), stored=stored)
    return Response(status_code=200)


async def handle_meta_changes(rt: Runtime, changes: Sequence[MetaChange]) -> int:
    """Store what the changes carry (and enqueue the Instagram mention lookups) in one transaction."""
    if not changes:
        return 0
    stored = 0
    async with rt.db.write() as s:
        known: dict[str, dict[str, list[_Account]]] = {}
        for network, key in (("facebook", "page_id"), ("instagram", "ig_user_id")):
            if any(c.network == network for c in changes):
                known[network] = await accounts_by_remote_id(s, rt, network, key)
        for change in changes:
            targets = known.get(change.network, {}).get(change.owner_id, [])
            if not targets:
                log.info("meta.unknown_owner", network=change.network, owner_id=change.owner_id)
            for target in targets:
                acct = target.account
                if change.field == "mentions":
                    await _enqueue_instagram_mention(s, acct, change.value)
                    continue
                if change.network == "facebook":
                    mention = facebook_mention(change)
                else:
                    mention = instagram_mention(change, target.data.get("username", ""))
                if mention is not None:
                    stored += len(await store_and_alert(s, acct, [mention]))
    return stored


async def _enqueue_instagram_mention(s: AsyncSession, acct: NetworkAccount, value: Mapping[str, Any]) -> None:
    media_id, comment_id = str(value.get("media_id") or ""), str(value.get("comment_id") or "")
    if not media_id and not comment_id:
        return
    await queue.enqueue(
        s,
        INSTAGRAM_MENTION_TASK,
        {"account_id": acct.id, "media_id": media_id, "comment_id": comment_id},
        lane=queue.network_lane("instagram"),
        dedup_key=f"ig-mention:{acct.id}:{comment_id or media_id}",
        business_id=acct.business_id,
        max_attempts=5,
    )


async def fetch_instagram_mention(rt: Runtime, job: JobInfo) -> None:
    """Job ``mentions.instagram_mention``: read the comment or caption an Instagram ``mentions`` webhook pointed at
    and store it. An expired token marks the account broken (as the poll does); a retryable failure retries."""
    account_id = int(job.payload["account_id"])
    async with rt.db.read() as s:
        acct = await s.get(NetworkAccount, account_id)
        biz = await s.get(Business, acct.business_id) if acct else None
    if acct is None or biz is None or acct.status != AccountStatus.active.value or biz.deleted_at is not None:
        return
    net: Any = rt.networks.get(acct.network)
    if not hasattr(net, "mentioned"):
        return
    try:
        async with account_credentials(rt, acct, biz) as creds:
            mention = await net.mentioned(
                creds,
                media_id=str(job.payload.get("media_id") or ""),
                comment_id=str(job.payload.get("comment_id") or ""),
            )
    except AuthError as exc:
        async with rt.db.write() as s:
            a = await s.get(NetworkAccount, account_id)
            if a is not None:
                await mark_account_broken(rt, s, a, biz, exc.reason)
        return
    except PermanentError as exc:
        log.warning("instagram.mention_unreadable", account_id=account_id, error=exc.reason)
        return
    if mention is None:
        return
    async with rt.db.write() as s:
        a = await s.get(NetworkAccount, account_id)
        if a is not None:
            await store_and_alert(s, a, [mention])


# --- Google Business Profile through Pub/Sub push --------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class GoogleNotification:
    type: str
    location: str  # accounts/{a}/locations/{l} (or locations/{l})
    review: str  # accounts/{a}/locations/{l}/reviews/{r}, "" when absent
    message_id: str


def google_notification(envelope: Any) -> GoogleNotification | None:
    """The notification inside a Pub/Sub push envelope; None when it cannot be read. The Business Profile
    notification names its fields ``location_name`` / ``review_name`` (camelCase in JSON); the type may also come
    as a message attribute."""
    message = envelope.get("message") if isinstance(envelope, dict) else None
    if not isinstance(message, dict):
        return None
    attributes = graph_obj(message.get("attributes"))
    data: Any = {}
    if raw := message.get("data"):
        try:
            data = json.loads(base64.b64decode(str(raw), validate=False))
        except (ValueError, binascii.Error):
            return None
    if not isinstance(data, dict):
        return None

    def pick(*names: str) -> str:
        for source in (data, attributes):
            for name in names:
                if value := source.get(name):
                    return str(value)
        return ""

    review = pick("reviewName", "review_name", "review")
    location = pick("locationName", "location_name", "location") or review.partition("/reviews/")[0]
    return GoogleNotification(
        type=pick("notificationType", "notification_type", "type"),
        location=location,
        review=review,
        message_id=str(message.get("messageId") or message.get("message_id") or ""),
    )


def _location_id(name: str) -> str:
    """``accounts/1/locations/2`` or ``locations/2`` → ``2``."""
    _, _, rest = name.partition("locations/")
    return rest.split("/", 1)[0]


@router.post("/google/pubsub", status_code=204)
async def google_pubsub(
    request: Request, rt: RuntimeDep, token: Annotated[str, Query(max_length=200)] = ""
) -> Response:
    if not same_secret(token, setting(rt, "google_pubsub_token")):
        log.warning("pubsub.forged", has_token=bool(token))
        raise Forbidden("invalid push token")
    body = await limited_body(request)
    try:
        envelope = json.loads(body)
    except ValueError:
        envelope = None
    note = google_notification(envelope)
    if note is None:
        log.warning("pubsub.unreadable", size=len(body))
        return Response(status_code=204)
    if note.type not in GOOGLE_REVIEW_TYPES or not _location_id(note.location):
        log.info("pubsub.ignored", type=note.type)
        return Response(status_code=204)
    polled = await enqueue_review_polls(rt, note)
    log.info("pubsub.review", type=note.type, accounts=polled)
    return Response(status_code=204)


async def enqueue_review_polls(rt: Runtime, note: GoogleNotification) -> int:
    """An immediate ``mentions.poll`` for every active Google account on that location (same job, once per review
    and type; an update also keys on the Pub/Sub message id, since a review can be edited more than once)."""
    wanted = _location_id(note.location)
    count = 0
    async with rt.db.write() as s:
        accounts = await accounts_by_remote_id(s, rt, "google", "location_id")
        for target in _flatten(v for k, v in accounts.items() if k.removeprefix("locations/") == wanted):
            key = f"gbp:{target.account.id}:{note.type}:{note.review or note.location}"
            if note.type == "UPDATED_REVIEW":
                key += f":{note.message_id}"
            await queue.enqueue(
                s,
                "mentions.poll",
                {"account_id": target.account.id},
                lane=queue.network_lane("google"),
                dedup_key=key[:200],
                business_id=target.account.business_id,
                max_attempts=3,
            )
            count += 1
    return count


# --- helpers ---------------------------------------------------------------------------------------------------


def _flatten(groups: Iterable[list[_Account]]) -> list[_Account]:
    return [item for group in groups for item in group]


def _epoch(value: Any) -> datetime | None:
    """Meta ``time`` / ``created_time`` as epoch seconds (or milliseconds)."""
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        return None
    seconds = value / 1000 if value > 100_000_000_000 else value
    try:
        return datetime.fromtimestamp(seconds, tz=UTC)
    except (OverflowError, OSError, ValueError):
        return None


__all__ = [
    "INSTAGRAM_MENTION_TASK",
    "fetch_instagram_mention",
    "google_notification",
    "meta_changes",
    "meta_signature_ok",
    "router",
]
