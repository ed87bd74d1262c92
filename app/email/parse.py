"""Raw MIME → :class:`ParsedEmail`: the few things the email service needs, decoded once.

Pure: no I/O, no settings. It never raises on bytes that a mail server accepted; a part whose charset is
unknown or lies (a "utf-8" part in Windows-1252, 8-bit latin-1 with no charset) is decoded with the
next best guess rather than dropped. HTML-only mail is turned into plain text with its ``<blockquote>``
history rendered as ``>`` lines, so reply extraction sees the same shape as in a plain-text reply.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage, Message
from email.utils import getaddresses, parseaddr
from html.parser import HTMLParser
from typing import Any, Protocol

# Headers kept for loop and auto-reply detection (lower-case names).
LOOP_HEADERS = (
    "auto-submitted",
    "precedence",
    "list-id",
    "list-unsubscribe",
    "list-post",
    "x-autoreply",
    "x-autorespond",
    "x-auto-response-suppress",
    "x-failed-recipients",
    "return-path",
    "x-loop",
    "feedback-id",
)

IGNORED_ATTACHMENT_TYPES = frozenset(
    {
        # Signatures and crypto material a mail client adds on its own: not something the owner sent us.
        "application/pkcs7-signature",
        "application/x-pkcs7-signature",
        "application/pgp-signature",
        "application/pgp-keys",
        "application/ms-tnef",
    }
)


@dataclass(frozen=True, slots=True)
class Attachment:
    filename: str
    content_type: str
    data: bytes
    inline: bool = False  # Content-Disposition inline with a Content-ID (pasted picture, signature logo)
    content_id: str = ""


@dataclass(frozen=True, slots=True)
class ParsedEmail:
    message_id: str
    from_addr: str  # lower-cased bare address; "" when missing or unparsable
    from_name: str
    subject: str
    text: str  # the plain-text body, CRLF-free; HTML-only mail converted
    html_only: bool = False
    recipients: tuple[str, ...] = ()  # lower-cased bare addresses: envelope first, then To/Cc/Delivered-To
    reply_token: str | None = None  # <token> of the first ``reply+<token>@<mail_domain>`` recipient
    local_parts: tuple[str, ...] = ()  # local parts of the recipients at the mail domain, in order
    in_reply_to: str = ""
    references: tuple[str, ...] = ()
    content_type: str = "text/plain"  # of the whole message: multipart/report marks a DSN/MDN
    headers: dict[str, str] = field(default_factory=dict)  # LOOP_HEADERS present, lower-case names
    auth_results: tuple[str, ...] = ()  # Authentication-Results values, top (newest) first
    attachments: tuple[Attachment, ...] = ()
    forwarded: bool = False  # carries a message/rfc822 part (a forward "as attachment")


def decode_bytes(data: bytes, charset: str | None) -> str:
    """Decode with the declared charset, then UTF-8, then Windows-1252 (a superset of latin-1 in practice)."""
    for cs in (charset, "utf-8"):
        if not cs:
            continue
        try:
            return data.decode(cs)
        except (LookupError, UnicodeDecodeError):
            continue
    return data.decode("cp1252", "replace")


def _part_text(part: Message) -> str:
    payload = part.get_payload(decode=True)
    if not isinstance(payload, bytes):
        raw = part.get_payload()
        return raw if isinstance(raw, str) else ""
    charset = part.get_content_charset()
    if charset in ("us-ascii", "ascii"):
        charset = None  # 8-bit text labelled ASCII is common; let the guesses run
    return decode_bytes(payload, charset)


def _header(msg: Message, name: str) -> str:
    value = msg.get(name)
    if value is None:
        return ""
    try:
        return " ".join(str(value).split())
    except Exception:  # a malformed encoded-word: keep what the raw header says
        return " ".join(str(msg.get_all(name, [""])[0]).split())


def _addresses(values: list[str]) -> list[str]:
    out = []
    for _name, addr in getaddresses(values):
        addr = addr.strip().strip("<>").lower()
        if "@" in addr and addr not in out:
            out.append(addr)
    return out


def _ids(value: str) -> tuple[str, ...]:
    return tuple(re.findall(r"<[^<>\s]+>", value))


def _is_attachment(part: Message) -> bool:
    disposition = (part.get_content_disposition() or "").lower()
    return disposition == "attachment" or (
        disposition != "inline" and bool(part.get_filename()) and part.get_content_maintype() != "text"
    )


def _subparts(part: Message) -> list[Message]:
    payload = part.get_payload()
    return [x for x in payload if isinstance(x, Message)] if isinstance(payload, list) else []


def _depth(msg: Message) -> int:
    """How deep multiparts nest, without recursion."""
    deepest, stack = 0, [(msg, 1)]
    while stack:
        part, level = stack.pop()
        deepest = max(deepest, level)
        if level <= MAX_MIME_DEPTH:
            stack.extend((p, level + 1) for p in _subparts(part))
    return deepest


def _walk(
    part: Message, texts: list[str], htmls: list[str], attachments: list[Attachment], state: dict[str, bool]
) -> None:
    ctype = part.get_content_type()
    if ctype == "message/rfc822":
        state["forwarded"] = True  # a forward as attachment: its text is history, not the owner's words
        return
    if ctype in ("message/delivery-status", "message/disposition-notification", "text/rfc822-headers"):
        return
    if part.is_multipart():
        subparts = _subparts(part)
        if ctype == "multipart/alternative":
            plain = [p for p in subparts if p.get_content_type() == "text/plain" and not _is_attachment(p)]
            chosen = plain[:1] or [p for p in subparts if p.get_content_type() != "text/plain"][-1:]
            for p in chosen:
                _walk(p, texts, htmls, attachments, state)
            # Images nested in a multipart/related alternative still count as attachments.
            for p in subparts:
                if p not in chosen and p.get_content_type().startswith("multipart/"):
                    _collect_attachments_only(p, attachments)
            return
        for p in subparts:
            _walk(p, texts, htmls, attachments, state)
        return
    if ctype in ("text/plain", "text/html") and not _is_attachment(part):
        (texts if ctype == "text/plain" else htmls).append(_part_text(part))
        return
    _add_attachment(part, attachments)


def _collect_attachments_only(part: Message, attachments: list[Attachment]) -> None:
    if part.is_multipart():
        for p in _subparts(part):
            _collect_attachments_only(p, attachments)
    elif part.get_content_maintype() not in ("text", "message"):
        _add_attachment(part, attachments)


def _add_attachment(part: Message, attachments: list[Attachment]) -> None:
    ctype = part.get_content_type()
    if ctype in IGNORED_ATTACHMENT_TYPES:
        return
    payload = part.get_payload(decode=True)
    data = payload if isinstance(payload, bytes) else b""
    cid = (part.get("Content-ID") or "").strip()
    attachments.append(
        Attachment(
            filename=str(part.get_filename() or "")[:200],
            content_type=ctype,
            data=data,
            inline=(part.get_content_disposition() or "") != "attachment" and bool(cid),
            content_id=cid,
        )
    )


MAX_MIME_DEPTH = 30
"""Multipart levels a mail may nest (real mail: under 6). Deeper is refused before the standard library's
recursive parser runs: 3,000 levels raised RecursionError and left the message stuck in ``received``."""


class MimeTooDeep(ValueError):
    """The mail nests multiparts deeper than ``MAX_MIME_DEPTH``: it is ignored, with this as its reason."""


def mime_depth_ok(raw: bytes) -> bool:
    """A cheap upper bound on the nesting, without parsing: each level needs its own ``boundary=`` parameter."""
    return raw.lower().count(b"boundary=") <= MAX_MIME_DEPTH * 4


def parse_email(raw: bytes, *, mail_domain: str = "", envelope_recipients: tuple[str, ...] = ()) -> ParsedEmail:
    """Parse one raw message. ``mail_domain`` finds our own recipients (``<slug>@`` and ``reply+<token>@``).
    Raises :class:`MimeTooDeep` for a mail nested past ``MAX_MIME_DEPTH``."""
    if not mime_depth_ok(raw):
        raise MimeTooDeep(f"more than {MAX_MIME_DEPTH * 4} multipart boundaries")
    try:
        msg = message_from_bytes(raw, policy=policy.compat32)
    except RecursionError:
        raise MimeTooDeep("nested too deep to parse") from None
    if _depth(msg) > MAX_MIME_DEPTH:
        raise MimeTooDeep(f"multiparts nested over {MAX_MIME_DEPTH} levels")
    texts: list[str] = []
    htmls: list[str] = []
    attachments: list[Attachment] = []
    state = {"forwarded": False}
    _walk(msg, texts, htmls, attachments, state)
    html_only = not texts and bool(htmls)
    body = "\n".join(texts) if texts else "\n".join(html_to_text(h) for h in htmls)
    body = body.replace("\r\n", "\n").replace("\r", "\n")

    subject = _decoded_header(raw, "Subject")
    from_name, from_addr = parseaddr(_decoded_header(raw, "From"))
    recipients = _addresses(
        list(envelope_recipients) + [str(v) for h in ("To", "Cc", "Delivered-To") for v in msg.get_all(h, [])]
    )
    domain = mail_domain.lower().strip()
    token = None
    local_parts: list[str] = []
    for addr in recipients:
        local, _, dom = addr.rpartition("@")
        if domain and dom != domain:
            continue
        local_parts.append(local)
        if token is None and local.startswith("reply+") and len(local) > len("reply+"):
            token = local[len("reply+") :]
    headers = {h: _header(msg, h) for h in LOOP_HEADERS if msg.get(h) is not None}
    return ParsedEmail(
        message_id=_header(msg, "Message-ID")[:255],
        from_addr=from_addr.strip().lower() if "@" in from_addr else "",
        from_name=from_name.strip(),
        subject=subject,
        text=body,
        html_only=html_only,
        recipients=tuple(recipients),
        reply_token=token,
        local_parts=tuple(local_parts),
        in_reply_to=_header(msg, "In-Reply-To"),
        references=_ids(_header(msg, "References")),
        content_type=msg.get_content_type(),
        headers=headers,
        auth_results=tuple(" ".join(str(v).split()) for v in msg.get_all("Authentication-Results", [])),
        attachments=tuple(attachments),
        forwarded=state["forwarded"],
    )


def _decoded_header(raw: bytes, name: str) -> str:
    """A header with RFC 2047 words decoded (policy.default does it; compat32 keeps the raw form)."""
    try:
        msg = message_from_bytes(raw.split(b"\n\n", 1)[0].split(b"\r\n\r\n", 1)[0], policy=policy.default)
        assert isinstance(msg, EmailMessage)
        value = msg.get(name)
        return " ".join(str(value).split()) if value is not None else ""
    except Exception:
        return ""


# --- HTML → text -----------------------------------------------------------------------------------

_BLOCK = frozenset(
    {"p", "div", "br", "li", "ul", "ol", "tr", "table", "h1", "h2", "h3", "h4", "h5", "h6", "hr", "pre", "section"}
)
_SKIP = frozenset({"script", "style", "head", "title", "xml"})


class _HtmlText(HTMLParser):
    """Visible text, one line per block, ``>`` for each level of ``<blockquote>``."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.lines: list[tuple[int, str]] = []
        self.current = ""
        self.depth = 0
        self.skip = 0
        self.pre = 0

    def _flush(self, *, force: bool = False) -> None:
        text = self.current if self.pre else " ".join(self.current.split())
        if text or force:
            self.lines.append((self.depth, text))
        self.current = ""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIP:
            self.skip += 1
        elif tag == "blockquote":
            self._flush()
            self.depth += 1
        elif tag == "br":
            self._flush(force=True)
        elif tag in _BLOCK:
            self._flush()
            if tag == "pre":
                self.pre += 1
            if tag == "hr":
                self.lines.append((self.depth, "_" * 32))
        elif tag in ("td", "th"):
            self.current += " "

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "br":
            self._flush(force=True)
        elif tag == "hr":
            self._flush()
            self.lines.append((self.depth, "_" * 32))

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIP:
            self.skip = max(0, self.skip - 1)
        elif tag == "blockquote":
            self._flush()
            self.depth = max(0, self.depth - 1)
        elif tag in _BLOCK:
            self._flush()
            if tag == "pre":
                self.pre = max(0, self.pre - 1)
            if tag == "p":
                self.lines.append((self.depth, ""))

    def handle_data(self, data: str) -> None:
        if not self.skip:
            self.current += data


def html_to_text(html: str) -> str:
    parser = _HtmlText()
    try:
        parser.feed(html)
        parser.close()
    except Exception:  # html.parser is lenient; this is belt and braces for truly broken input
        return re.sub(r"<[^>]*>", " ", html)
    parser._flush()
    out: list[str] = []
    for depth, text in parser.lines:
        text = text.replace("\xa0", " ").rstrip()
        line = ("> " * depth + text).rstrip() if depth else text
        if not line and out and not out[-1]:
            continue  # collapse runs of empty lines
        out.append(line)
    return "\n".join(out).strip("\n")


class StoredMail(Protocol):
    """A stored inbound mail (``app.models.InboundMessage``): its body and how it was stored."""

    @property
    def body(self) -> str: ...
    @property
    def raw(self) -> Mapping[str, Any]: ...


def raw_bytes(inbound: StoredMail) -> bytes:
    """The mail exactly as received: stored as text when it was UTF-8, else base64 (see app/email/smtp.py)."""
    if inbound.raw.get("encoding") == "base64":
        return base64.b64decode(inbound.body)
    return inbound.body.encode("utf-8", "surrogateescape")
