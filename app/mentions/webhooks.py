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
  (:meth:`app.networks.instagram.adapter.Instagram.mentioned`) and stores it.

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

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Annotated, Any

import structlog
from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import PlainTextResponse
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from app.accounts.credentials import account_broke, account_credentials
from app.deps import RuntimeDep
from app.errors import AppError, Forbidden
from app.kit.crypto import same_text
from app.kit.errors import AuthError, PermanentError
from app.lanes import network_lane
from app.mentions import service as mention_service
from app.models import AccountStatus, Business, MentionRow, NetworkAccount
from app.networks import registry
from app.networks.base import Mention
from app.networks.facebook.webhook import MetaChange, meta_changes, meta_signature_ok
from app.networks.google.webhook import REVIEW_TYPES, GoogleNotification, google_notification, location_id
from app.runtime import Runtime
from app.worker import queue
from app.worker.runner import JobInfo

router = APIRouter(prefix="/webhooks", tags=["webhooks"])
log = structlog.get_logger("ardoise.mentions.webhooks")

MAX_BODY = 1_000_000
INSTAGRAM_MENTION_TASK = "mentions.instagram_mention"


class TooLarge(AppError):
    status_code, code, title = 413, "too_large", "Payload too large"


def same_secret(given: str, expected: str) -> bool:
    """Constant-time comparison; an empty expected value never matches (the endpoint is disabled)."""
    return bool(expected) and same_text(given, expected)


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
    if mode != "subscribe" or not same_secret(verify_token, rt.settings.meta_verify_token):
        log.warning("meta.verify_refused", mode=mode[:20])
        raise Forbidden("webhook verification refused")
    return PlainTextResponse(challenge)


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
    if not meta_signature_ok(
        rt.settings.facebook_app_secret.get_secret_value(), body, request.headers.get("x-hub-signature-256")
    ):
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
        for network in dict.fromkeys(c.network for c in changes):
            known[network] = await accounts_by_remote_id(s, rt, network, registry.NETWORKS[network].remote_key)
        for change in changes:
            targets = known.get(change.network, {}).get(change.owner_id, [])
            if not targets:
                log.info("meta.unknown_owner", network=change.network, owner_id=change.owner_id)
            for target in targets:
                acct = target.account
                if change.field == "mentions":
                    await _enqueue_instagram_mention(s, acct, change.value)
                    continue
                parse = registry.webhook_parser(change.network)
                mention = parse(change, target.data) if parse is not None else None
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
        lane=network_lane("instagram"),
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
        await account_broke(rt, account_id, biz, exc.reason)
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


@router.post("/google/pubsub", status_code=204)
async def google_pubsub(
    request: Request, rt: RuntimeDep, token: Annotated[str, Query(max_length=200)] = ""
) -> Response:
    if not same_secret(token, rt.settings.google_pubsub_token.get_secret_value()):
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
    if note.type not in REVIEW_TYPES or not location_id(note.location):
        log.info("pubsub.ignored", type=note.type)
        return Response(status_code=204)
    polled = await enqueue_review_polls(rt, note)
    log.info("pubsub.review", type=note.type, accounts=polled)
    return Response(status_code=204)


async def enqueue_review_polls(rt: Runtime, note: GoogleNotification) -> int:
    """An immediate ``mentions.poll`` for every active Google account on that location (same job, once per review
    and type; an update also keys on the Pub/Sub message id, since a review can be edited more than once)."""
    wanted = location_id(note.location)
    count = 0
    async with rt.db.write() as s:
        accounts = await accounts_by_remote_id(s, rt, "google", registry.NETWORKS["google"].remote_key)
        for target in _flatten(v for k, v in accounts.items() if k.removeprefix("locations/") == wanted):
            key = f"gbp:{target.account.id}:{note.type}:{note.review or note.location}"
            if note.type == "UPDATED_REVIEW":
                key += f":{note.message_id}"
            await queue.enqueue(
                s,
                "mentions.poll",
                {"account_id": target.account.id},
                lane=network_lane("google"),
                dedup_key=key[:200],
                business_id=target.account.business_id,
                max_attempts=3,
            )
            count += 1
    return count


# --- helpers ---------------------------------------------------------------------------------------------------


def _flatten(groups: Iterable[list[_Account]]) -> list[_Account]:
    return [item for group in groups for item in group]


__all__ = [
    "INSTAGRAM_MENTION_TASK",
    "fetch_instagram_mention",
    "google_notification",
    "meta_changes",
    "meta_signature_ok",
    "router",
]
