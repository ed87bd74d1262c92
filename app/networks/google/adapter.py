"""Google Business Profile local posts (My Business API v4), with httpx only.

Credentials data (``NetworkCredentials.data``), as ``app.connect`` stores them:

- ``account_id``, ``location_id``: the numeric ids in ``accounts/{a}/locations/{l}``;
- ``location_title`` (optional): the business name shown on Google, used as the handle;
- ``access_token``, ``refresh_token``, ``expires_at`` (epoch seconds): OAuth 2.0 tokens (scope
  ``https://www.googleapis.com/auth/business.manage``); the access token lives about an hour;
- ``client_id``, ``client_secret`` (optional): the OAuth client, used when the adapter was built without them;
- ``business_phone`` (optional): when set, every post gets a "Call" button (``callToAction.actionType CALL``,
  Google dials the phone number of the profile);
- ``language`` (optional): ``languageCode`` of the posts, ``fr`` by default.

Refresh: when the access token expires within ``refresh_margin`` (5 min), or an API call answers 401, the adapter
refreshes once at ``oauth2.googleapis.com/token`` and writes the new token to ``creds.renewed`` at once (the caller
stores it whether the call then succeeds or fails).

Text: ``summary`` holds at most 1,500 characters; past that, its beginning + ``… <post.link>``. One photo (the
first) goes in ``media`` as ``sourceUrl`` (the image's public URL on Ardoise): a standard post shows one photo.

Exactly once: no idempotency key; ``find_existing`` lists the location's 10 latest local posts and matches the
summary within ``find_window``.

Reviews (``fetch_mentions``): ``GET …/locations/{l}/reviews?orderBy=updateTime desc&pageSize=50``, paged with
``pageToken`` until a review older than the cursor (the newest ``updateTime`` seen, RFC 3339). Each review is a
Mention of kind ``review`` with ``rating`` from ``starRating`` (``ONE``..``FIVE``), ``remote_id`` the ``reviewId``
(an edited review is not stored again) and ``target.remote_id`` the review's resource name. Reviews that already have
an owner reply are skipped. Pub/Sub push (``NEW_REVIEW``) only triggers an immediate poll (``app.mentions.webhooks``).

Answers: a ``Post`` with ``reply_to`` is ``PUT …/reviews/{id}/reply`` with ``comment`` (4,096 characters at most).
A PUT replaces the reply, so a retry cannot make a second one (``find_existing`` returns None for answers). Google
has no likes: ``like_item`` raises PermanentError ``unsupported``.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar
from urllib.parse import quote, urlsplit

import httpx

from app.kit.errors import AdapterError, AuthError, PermanentError, RetryableError
from app.kit.time import utcnow
from app.networks.base import AccountInfo, Mention, NetworkCredentials, Post, PublishResult, ReplyTarget
from app.networks.http import parse_retry_after, send_request
from app.networks.oauth import RefreshMemo, expires_soon, oauth_error_message, token_fields
from app.networks.text import shorten

API_URL = "https://mybusiness.googleapis.com/v4"
TOKEN_URL = "https://oauth2.googleapis.com/token"
MAX_SUMMARY = 1_500
MAX_REPLY = 4_096
DEFAULT_LANGUAGE = "fr"
STARS = {"ONE": 1, "TWO": 2, "THREE": 3, "FOUR": 4, "FIVE": 5}
NO_LIKES = "google has no likes on reviews"


def fit_summary(post: Post) -> str:
    """The ``summary``: the text when it fits 1,500 characters, else its beginning + ``… <link>``."""
    text = post.text.strip()
    if len(text) <= MAX_SUMMARY:
        return text
    if not post.link:
        raise PermanentError(
            f"text is {len(text)} characters, google takes {MAX_SUMMARY}, and there is no link to the full text",
            code="too_long",
        )
    return shorten(text, MAX_SUMMARY, post.link, len)


def google_error(resp: httpx.Response, now: datetime) -> AdapterError:
    """The error for a failed Google API answer (``{"error": {"code", "message", "status"}}``).

    429 / ``RESOURCE_EXHAUSTED``, 5xx, ``UNAVAILABLE`` and ``ABORTED`` retry (``Retry-After`` honoured, else 60 s
    for quota); 401 ``UNAUTHENTICATED`` and 403 ``PERMISSION_DENIED`` are AuthError (the owner must link again, or
    the operator must enable the API for the project); 404 is ``not_found``; 400 ``INVALID_ARGUMENT`` and the rest
    are PermanentError with Google's message.
    """
    status = resp.status_code
    where = f"google {resp.request.method} {urlsplit(str(resp.request.url)).path}"
    body: Any
    try:
        body = resp.json()
    except ValueError:
        body = None
    error = body.get("error") if isinstance(body, dict) else None
    error = error if isinstance(error, dict) else {}
    state = str(error.get("status") or "")
    message = str(error.get("message") or "").strip() or " ".join(resp.text.split())[:200] or f"HTTP {status}"
    wait = parse_retry_after(resp.headers.get("Retry-After", ""), now)
    if status == 429 or state == "RESOURCE_EXHAUSTED":
        return RetryableError(f"{where}: quota: {message}", retry_after=wait or 60.0, code="rate_limited")
    if status >= 500 or state in ("UNAVAILABLE", "ABORTED", "INTERNAL", "DEADLINE_EXCEEDED"):
        return RetryableError(f"{where}: {status} {message}", retry_after=wait, code=f"http_{status}")
    if status == 401 or state == "UNAUTHENTICATED":
        return AuthError(f"google refused the access token: {message}")
    if status == 403 or state == "PERMISSION_DENIED":
        return AuthError(f"google refused access to the business profile: {message}", code="permission")
    if status == 404 or state == "NOT_FOUND":
        return PermanentError(f"{where}: {message}", code="not_found")
    return PermanentError(f"google refused it: {message}", code=f"http_{status}")


class Google:
    """The Google Business Profile adapter. See the module docstring for the credentials it reads."""

    name: ClassVar[str] = "google"
    max_chars: ClassVar[int] = MAX_SUMMARY

    def __init__(
        self,
        client: httpx.AsyncClient,
        *,
        api_url: str = API_URL,
        token_url: str = TOKEN_URL,
        client_id: str = "",
        client_secret: str = "",
        refresh_margin: float = 300.0,
        find_window: timedelta = timedelta(hours=12),
        review_page_size: int = 50,
        review_max_pages: int = 5,
    ) -> None:
        self._client = client
        self._api = api_url.rstrip("/")
        self._token_url = token_url
        self._client_id = client_id
        self._client_secret = client_secret
        self._margin = refresh_margin
        self._find_window = find_window
        self._page_size = review_page_size
        self._max_pages = review_max_pages
        self._memo = RefreshMemo()

    # --- the Network protocol -------------------------------------------------------------------------

    def measure(self, text: str) -> int:
        """Characters (code points)."""
        return len(text)

    async def verify(self, creds: NetworkCredentials) -> AccountInfo:
        """List one local post of the location: proves the token, the scope and access to the location."""
        session = _Session(self, creds)
        await session.call("GET", f"{_location(creds)}/localPosts", params=[("pageSize", "1")])
        title = creds.get("location_title").strip()
        return AccountInfo(
            handle=title or _location(creds),
            remote_id=_location(creds),
            display_name=title,
            limits={"max_characters": MAX_SUMMARY},
        )

    async def publish(self, post: Post, creds: NetworkCredentials) -> PublishResult:
        """``POST …/localPosts`` with ``summary``, ``topicType STANDARD``, the first photo, and a "Call" button
        when the business has a phone. An answer to a review (``post.reply_to``) is ``PUT …/reviews/{id}/reply``."""
        if post.reply_to is not None:
            return await self._reply(post, creds)
        body: dict[str, Any] = {
            "languageCode": (creds.get("language") or DEFAULT_LANGUAGE).strip(),
            "summary": fit_summary(post),
            "topicType": "STANDARD",
        }
        photos = [item for item in post.media if item.url]
        if post.media and not photos:
            raise PermanentError("google needs a public URL for the photo", code="media_missing")
        if photos:
            body["media"] = [{"mediaFormat": "PHOTO", "sourceUrl": photos[0].url}]
        if creds.get("business_phone").strip():
            body["callToAction"] = {"actionType": "CALL"}
        session = _Session(self, creds)
        created = await session.call("POST", f"{_location(creds)}/localPosts", json=body)
        return _result(created)

    async def find_existing(self, post: Post, creds: NetworkCredentials) -> PublishResult | None:
        """The post among the location's 10 latest local posts: same summary, made within ``find_window``.
        None for an answer to a review: its PUT is idempotent."""
        if post.reply_to is not None:
            return None
        try:
            wanted = " ".join(fit_summary(post).split())
        except PermanentError:
            return None
        session = _Session(self, creds)
        listing = await session.call("GET", f"{_location(creds)}/localPosts", params=[("pageSize", "10")])
        since = utcnow() - self._find_window
        items = listing.get("localPosts")
        for local in items if isinstance(items, list) else []:
            if not isinstance(local, dict):
                continue
            created = _parse_time(local.get("createTime"))
            if created is not None and created < since:
                continue
            if " ".join(str(local.get("summary") or "").split()) == wanted:
                return _result(local)
        return None

    async def delete(self, remote_id: str, creds: NetworkCredentials) -> None:
        """``DELETE …/localPosts/{id}`` (``remote_id`` is the post's full resource name); a 404 is a success."""
        name = remote_id.strip("/")
        if not name.startswith("accounts/"):
            name = f"{_location(creds)}/localPosts/{quote(name, safe='')}"
        session = _Session(self, creds)
        try:
            await session.call("DELETE", name)
        except PermanentError as exc:
            if exc.code != "not_found":
                raise

    def redact(self, creds: NetworkCredentials) -> Sequence[str]:
        """Access and refresh tokens, and a client secret stored with the account."""
        return [v for k in ("access_token", "refresh_token", "client_secret") if (v := creds.get(k))]

    # --- reviews (MentionSource) ------------------------------------------------------------------------

    async def fetch_mentions(self, creds: NetworkCredentials, cursor: str | None) -> tuple[list[Mention], str | None]:
        """Reviews updated at or after ``cursor``, oldest first, and the newest ``updateTime`` seen. Without a
        cursor, only the first page."""
        session = _Session(self, creds)
        since = _parse_time(cursor) if cursor else None
        newest = since
        found: list[Mention] = []
        page_token = ""
        for _ in range(self._max_pages):
            params = [("pageSize", str(self._page_size)), ("orderBy", "updateTime desc")]
            if page_token:
                params.append(("pageToken", page_token))
            listing = await session.call("GET", f"{_location(creds)}/reviews", params=params)
            rows = listing.get("reviews")
            reached = False
            for review in rows if isinstance(rows, list) else []:
                if not isinstance(review, dict):
                    continue
                updated = _parse_time(review.get("updateTime")) or _parse_time(review.get("createTime"))
                if since is not None and updated is not None and updated <= since:
                    reached = True  # newest first: everything after this one is known
                    if updated < since:
                        break
                if updated is not None and (newest is None or updated > newest):
                    newest = updated
                if (mention := _review_mention(review, creds)) is not None:
                    found.append(mention)
            page_token = str(listing.get("nextPageToken") or "")
            if reached or not page_token or since is None:
                break
        found.sort(key=lambda m: (m.created_at or datetime.min.replace(tzinfo=UTC), m.remote_id))
        new_cursor = newest.astimezone(UTC).isoformat() if newest is not None else cursor
        return found, new_cursor

    async def like_item(self, target: ReplyTarget, creds: NetworkCredentials) -> None:
        """Not possible: reviews cannot be liked."""
        raise PermanentError(NO_LIKES, code="unsupported")

    async def _reply(self, post: Post, creds: NetworkCredentials) -> PublishResult:
        assert post.reply_to is not None
        name = post.reply_to.remote_id.strip("/")
        if not name.startswith("accounts/"):
            name = f"{_location(creds)}/reviews/{quote(name, safe='')}"
        text = post.text.strip()
        if len(text) > MAX_REPLY:
            text = text[: MAX_REPLY - 1].rstrip() + "…"
        session = _Session(self, creds)
        await session.call("PUT", f"{name}/reply", json={"comment": text})
        return PublishResult(remote_id=f"{name}/reply")

    # --- tokens ----------------------------------------------------------------------------------------

    async def refresh(self, creds: NetworkCredentials) -> dict[str, str]:
        """``POST oauth2.googleapis.com/token`` with ``grant_type=refresh_token``: a new access token."""
        old = creds.get("refresh_token").strip()
        if not old:
            raise AuthError("google account has no refresh token: link it again")
        async with self._memo.lock(old):
            if (known := self._memo.recall(old)) is not None:
                return known
            client_id = self._client_id or creds.get("client_id")
            client_secret = self._client_secret or creds.get("client_secret")
            if not client_id or not client_secret:
                raise PermanentError("google OAuth client is not configured (ARDOISE_GOOGLE_CLIENT_ID)", code="config")
            form = {
                "grant_type": "refresh_token",
                "refresh_token": old,
                "client_id": client_id,
                "client_secret": client_secret,
            }
            resp = await send_request(
                self._client,
                "POST",
                self._token_url,
                data=form,
                headers={"Accept": "application/json"},
                network="google",
            )
            if resp.status_code in (400, 401):
                # invalid_grant: "Token has been expired or revoked." (the owner removed access, or 6 months idle)
                raise AuthError(f"google refused to refresh the token: {oauth_error_message(resp)}")
            if not resp.is_success:
                raise google_error(resp, utcnow())
            try:
                body = resp.json()
            except ValueError:
                body = None
            if not isinstance(body, dict):
                raise RetryableError("google token endpoint answered without JSON", code="bad_response")
            tokens = token_fields(body, keep_refresh=old)
            self._memo.remember(old, tokens)
            return tokens


class _Session:
    """The calls of one adapter operation: refresh up front when due, once more on a 401; the new token goes to
    ``creds.renewed`` as soon as it is known."""

    def __init__(self, adapter: Google, creds: NetworkCredentials) -> None:
        self.adapter = adapter
        self.creds = creds
        self.refreshed = False

    async def _refresh(self) -> str:
        tokens = await self.adapter.refresh(self.creds)
        self.creds.renewed.update(tokens)
        self.refreshed = True
        return tokens["access_token"]

    async def token(self) -> str:
        token = self.creds.get("access_token").strip()
        if self.refreshed:
            return token
        if self.creds.get("refresh_token") and (not token or expires_soon(self.creds, self.adapter._margin)):
            return await self._refresh()
        if not token:
            raise AuthError("google account has no access token")
        return token

    async def call(
        self,
        method: str,
        path: str,
        *,
        params: list[tuple[str, str]] | None = None,
        json: Any = None,
    ) -> dict[str, Any]:
        for attempt in (1, 2):
            token = await self.token()
            resp = await send_request(
                self.adapter._client,
                method,
                f"{self.adapter._api}/{path}",
                params=params,
                json=json,
                headers={"Authorization": f"Bearer {token}", "Accept": "application/json"},
                network="google",
            )
            if resp.status_code == 401 and attempt == 1 and not self.refreshed and self.creds.get("refresh_token"):
                await self._refresh()  # the token died before its time
                continue
            if not resp.is_success:
                raise google_error(resp, utcnow())
            try:
                body = resp.json() if resp.content else {}
            except ValueError:
                body = None
            if not isinstance(body, dict):
                raise RetryableError(f"google {path} answered without a JSON object", code="bad_response")
            return body
        raise AssertionError("unreachable")  # pragma: no cover


def _location(creds: NetworkCredentials) -> str:
    account = creds.get("account_id").strip().removeprefix("accounts/")
    location = creds.get("location_id").strip().removeprefix("locations/")
    if not account or not location:
        raise PermanentError("google account has no account_id / location_id", code="config")
    return f"accounts/{quote(account, safe='')}/locations/{quote(location, safe='')}"


def _review_mention(review: dict[str, Any], creds: NetworkCredentials) -> Mention | None:
    """A review as a Mention; None when it has no id or already has the owner's reply."""
    review_id = str(review.get("reviewId") or "")
    if not review_id or isinstance(review.get("reviewReply"), dict):
        return None
    name = str(review.get("name") or f"{_location(creds)}/reviews/{quote(review_id, safe='')}")
    reviewer = review.get("reviewer") if isinstance(review.get("reviewer"), dict) else None
    anonymous = bool(reviewer and reviewer.get("isAnonymous"))
    author = "" if anonymous or reviewer is None else str(reviewer.get("displayName") or "")
    return Mention(
        remote_id=review_id,
        kind="review",
        author=author or "Google",
        text=str(review.get("comment") or ""),
        target=ReplyTarget(remote_id=name),
        url="",
        created_at=_parse_time(review.get("createTime")),
        rating=STARS.get(str(review.get("starRating") or "")),
    )


def _result(local: dict[str, Any]) -> PublishResult:
    name = str(local.get("name") or "")
    if not name:
        raise RetryableError("google answered a local post without a name", code="bad_response")
    if local.get("state") == "REJECTED":
        raise PermanentError("google rejected the post (content policy)", code="rejected")
    return PublishResult(remote_id=name, url=str(local.get("searchUrl") or ""))


def _parse_time(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    text = value.replace("Z", "+00:00")
    # RFC 3339 with nanoseconds ("2024-05-01T12:00:00.123456789Z"): Python takes up to microseconds.
    if "." in text:
        head, _, rest = text.partition(".")
        digits = "".join(ch for ch in rest if ch.isdigit())
        text = f"{head}.{digits[:6]}{rest[len(digits) :]}"
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
