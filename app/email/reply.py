"""Only the new text of a reply: our marker first, then quoted history, attribution lines and signatures.

Pure and deterministic (no I/O). The design follows docs/email.md ("How replies are read"):

1. Normalise: CRLF → LF, NBSP/NNBSP → space, NFC, zero-width characters dropped.
2. Every mail Ardoise sends starts with :data:`MARKER`; when a line of the reply carries ``##-`` (quoted or
   not), everything from it down is ours, and the 1–4 lines just above it that look like an attribution
   (``Le … a écrit :``, ``On … wrote:``, ``De :``, ``From:``, a date or an address) go with it.
3. Without the marker (deleted, forwarded, a fresh mail): the history starts at the first attribution line,
   Outlook separator or header block (``-----Message d'origine-----``, ``________``, ``De : / Envoyé : /
   À : / Objet :``), forward banner or ``>`` line. Text above it is a top-posted reply; text below the
   quoted block is a bottom-posted one; text both above and between quotes (or between two quoted blocks)
   is an inline answer: returned, but ``confident`` is False so the service asks before acting.
4. Signatures: ``-- `` and everything below; "Envoyé de mon iPhone", "Sent from my …", "Obtenir Outlook
   pour …" and the like as whole short lines; a closing ("Cordialement,", "Merci,") followed by at most
   three short lines at the very end.

The French "Le …" over-cut (talon, willdurand/EmailReplyParser#77): an attribution wrapped over several
lines is rebuilt upwards from the line that ends in ``a écrit :``, one line at a time, and stops at the
first line that makes a complete attribution; so a reply line "Le prix reste à 16,95 $." just above
``Le jeu. 26 nov. 2026 à 10:02, … a écrit :`` is kept. Names containing "le" (Michelle, Veille Sociale)
are never a problem because nothing looks ahead for a second "le".
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

MARKER = "##- Répondez au-dessus de cette ligne / Reply above this line -##"


@dataclass(frozen=True, slots=True)
class Extracted:
    text: str  # the new text, stripped; "" when there is none
    confident: bool  # False: inline answers or leftovers of history; ask before acting
    quoted_only: bool  # nothing new at all: only history (or only a signature)
    marker: bool = False  # the cut was made at our marker


# --- patterns ----------------------------------------------------------------------------------------

_WROTE = r"(?:a\s+[ée]crit|wrote)\s*:\s*$"
# A complete attribution: "Le|On" + something with a digit or an address + "a écrit :|wrote:".
_ATTRIB_FULL = re.compile(r"^\s*(?:le|on)\s.{0,300}?(?:\d|@|<).{0,300}?" + _WROTE, re.IGNORECASE | re.DOTALL)
# A one-line "Name <addr> a écrit :" (Thunderbird, some webmails), only trusted when a quote follows.
_ATTRIB_LOOSE = re.compile(r"^.{1,200}?" + _WROTE, re.IGNORECASE)
_ENDS_WROTE = re.compile(_WROTE, re.IGNORECASE)
_STARTS_LE_ON = re.compile(r"^\s*(?:le|on)\s", re.IGNORECASE)

_SEPARATOR = re.compile(
    r"^\s*-{2,}\s*(?:original message|message d['’]origine|message original|forwarded message|"
    r"message transf[ée]r[ée]|mensaje original|urspr[üu]ngliche nachricht)\s*-{2,}\s*$",
    re.IGNORECASE,
)
_FORWARD = re.compile(
    r"^\s*(?:d[ée]but du message (?:r[ée]exp[ée]di[ée]|transf[ée]r[ée])\s*:?|begin forwarded message\s*:?|"
    r"-{3,}\s*(?:forwarded|transf[ée]r[ée]).{0,40}-{3,})\s*$",
    re.IGNORECASE,
)
_UNDERSCORES = re.compile(r"^\s*_{10,}\s*$")
_HEADER_LINE = re.compile(
    r"^\s*\*?(?:from|sent|to|cc|bcc|subject|date|de|envoy[ée]|[àa]|objet|cci|r[ée]pondre [àa]|reply-to)\*?"
    r"\s*:\s*\S",
    re.IGNORECASE,
)
_HEADER_START = re.compile(r"^\s*\*?(?:from|de)\*?\s*:\s*\S", re.IGNORECASE)

_SIG_DASHES = re.compile(r"^\s*--\s*$|^\s*—\s*$")
_SIG_DEVICE = re.compile(
    r"^\s*(?:sent from|sent with|sent via|sent using|envoy[ée] (?:de|depuis|avec|à partir de|a partir de)|"
    r"get outlook for|obtenir outlook pour|t[ée]l[ée]chargez outlook pour|t[ée]l[ée]charger outlook pour|"
    r"envoy[ée] par|provenance\s*:)\b",
    re.IGNORECASE,
)
_CLOSING = re.compile(
    r"^\s*(?:cordialement|bien [àa] vous|bien amicalement|amicalement|salutations(?: distingu[ée]es)?|"
    r"meilleures salutations|merci(?: beaucoup)?|bonne journ[ée]e|bonne soir[ée]e|[àa] bient[ôo]t|bisous|"
    r"best regards|kind regards|warm regards|regards|best|cheers|thanks(?: a lot)?|thank you|sincerely|"
    r"br|rgds|cdlt)\s*[,.!]*\s*$",
    re.IGNORECASE,
)
_ZERO_WIDTH = dict.fromkeys(map(ord, "\u200b\u200c\u200d\u2060\ufeff"), None)


def normalise(text: str) -> str:
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = text.replace("\u00a0", " ").replace("\u202f", " ").replace("\u2007", " ")
    return unicodedata.normalize("NFC", text.translate(_ZERO_WIDTH))


def _quoted(line: str) -> bool:
    return line.lstrip().startswith(">")


def _unquote(line: str) -> str:
    return re.sub(r"^(?:\s*>)+\s?", "", line)


def _blank(line: str) -> bool:
    return not line.strip() or (not _unquote(line).strip() and _quoted(line))


def _attribution_at(lines: list[str], i: int) -> int | None:
    """If line ``i`` ends an attribution, the index of its first line (nearest complete one), else None."""
    line = lines[i]
    if _quoted(line) or not _ENDS_WROTE.search(line):
        return None
    for start in range(i, max(-1, i - 3), -1):
        if start < i and (_blank(lines[start]) or _quoted(lines[start])):
            break
        if not _STARTS_LE_ON.match(lines[start]):
            continue
        joined = " ".join(x.strip() for x in lines[start : i + 1])
        if _ATTRIB_FULL.match(joined):
            return start
    # "Name <addr> a écrit :" on its own: only when a quoted line follows (after blank lines).
    nxt = next((x for x in lines[i + 1 :] if x.strip()), "")
    if _ATTRIB_LOOSE.match(line) and _quoted(nxt) and len(line) <= 200:
        return i
    return None


_HEADER_DETAIL = re.compile(r"^\s*\*?(?:sent|date|subject|envoy[ée]|objet)\*?\s*:\s*\S", re.IGNORECASE)


def _header_block_at(lines: list[str], i: int) -> bool:
    """An Outlook-style header block starts at ``i``: ``From:``/``De :``, then at least one more header line
    of which one is a date or subject (so "De : 9h / À : 17h" in a post is not history)."""
    if not _HEADER_START.match(lines[i]):
        return False
    following = [x for x in lines[i + 1 : i + 7] if x.strip()][:5]
    headers = [x for x in following if _HEADER_LINE.match(x)]
    return bool(headers) and any(_HEADER_DETAIL.match(x) for x in headers)


def _history_start(lines: list[str]) -> tuple[int, str] | None:
    """Index of the first line of history and its kind: ``quote`` (``>`` lines follow), ``block`` (all below
    is history: Outlook header block, separator, forward banner)."""
    for i, line in enumerate(lines):
        if _quoted(line):
            return i, "quote"
        if _SEPARATOR.match(line) or _FORWARD.match(line):
            return i, "block"
        if _UNDERSCORES.match(line):
            nxt = [x for x in lines[i + 1 : i + 4] if x.strip()]
            if nxt and _HEADER_START.match(nxt[0]):
                return i, "block"
        if _header_block_at(lines, i):
            return i, "block"
        start = _attribution_at(lines, i)
        if start is not None:
            rest = [x for x in lines[i + 1 :] if x.strip()]
            if rest and not _quoted(rest[0]) and not _HEADER_START.match(rest[0]):
                return start, "block"  # attribution above an unquoted copy (some mobile clients)
            return start, "quote"
    return None


def strip_signature(lines: list[str]) -> list[str]:
    """Drop a signature at the end of the new text."""
    out = list(lines)
    for i, line in enumerate(out):
        if _SIG_DASHES.match(line):
            out = out[:i]
            break
        if _SIG_DEVICE.match(line) and len(line.split()) <= 10:
            out = out[:i]
            break
    while out and not out[-1].strip():
        out.pop()
    # A closing line followed by at most three short lines (name, title, phone) at the very end.
    for i in range(len(out) - 1, max(-1, len(out) - 5), -1):
        if _CLOSING.match(out[i]) and i > 0:
            tail = [x for x in out[i + 1 :] if x.strip()]
            if len(tail) <= 3 and all(len(x.split()) <= 6 for x in tail):
                out = out[:i]
            break
    while out and not out[-1].strip():
        out.pop()
    return out


def _drop_attribution_tail(head: list[str]) -> list[str]:
    """Above our marker: drop the attribution or header block (a few lines) that introduces the quote."""
    out = list(head)
    for _ in range(8):
        while out and _blank(out[-1]):
            out.pop()
        if not out:
            break
        i = len(out) - 1
        bare = [_unquote(x) for x in out]
        if _ENDS_WROTE.search(bare[i]):
            start = _attribution_at(bare, i)
            out = out[: i if start is None else start]
            continue
        if (
            _quoted(out[i])
            or _HEADER_LINE.match(bare[i])
            or _SEPARATOR.match(bare[i])
            or _UNDERSCORES.match(bare[i])
            or re.search(r"<[^<>@\s]+@[^<>\s]+>\s*$", bare[i])
        ):
            out.pop()
            continue
        break
    return out


def _join(lines: list[str]) -> str:
    return "\n".join(x.rstrip() for x in lines).strip("\n").strip()


def _leftovers(text: str) -> bool:
    return "##-" in text or bool(re.search(r"(?:a\s+[ée]crit|wrote)\s*:", text, re.IGNORECASE))


def extract(text: str) -> Extracted:
    """The new text of a reply (see the module docstring)."""
    lines = normalise(text).split("\n")

    for i, line in enumerate(lines):
        if "##-" in line or "-##" in line:
            head = strip_signature(_drop_attribution_tail(lines[:i]))
            if any(_quoted(x) and _unquote(x).strip() for x in head):
                # Quoted lines above our marker: an inline answer, or an odd client. Keep new lines, ask.
                new = [x for x in head if not _quoted(x)]
                body = _join(strip_signature(new))
                return Extracted(body, confident=False, quoted_only=not body, marker=True)
            body = _join(head)
            if body:
                return Extracted(body, confident=not _leftovers(body), quoted_only=False, marker=True)
            break  # nothing above our marker: maybe bottom-posted below the quote; read the rest as usual

    found = _history_start(lines)
    if found is None:
        body = _join(strip_signature(lines))
        return Extracted(body, confident=not _leftovers(body), quoted_only=False)
    start, kind = found
    top = _join(strip_signature(lines[:start]))
    if kind == "block":
        return Extracted(top, confident=not _leftovers(top), quoted_only=not top)

    # Walk the rest: quoted runs, and unquoted blocks between or after them.
    rest = lines[start:]
    blocks: list[list[str]] = []
    current: list[str] = []
    seen_quote = False
    in_history = False
    for j, line in enumerate(rest):
        if _quoted(line):
            seen_quote = True
            if current:
                blocks.append(current)
                current = []
            continue
        if j == 0 or (not seen_quote and _attribution_at(rest, j) is not None):
            continue  # the attribution line(s) themselves
        if seen_quote and (
            _SEPARATOR.match(line) or _FORWARD.match(line) or _header_block_at(rest, j) or _UNDERSCORES.match(line)
        ):
            in_history = True
        if in_history:
            continue
        if seen_quote and _attribution_at(rest, j) is not None:
            in_history = True  # a nested attribution of older history below our quote
            continue
        if not seen_quote:
            continue  # wrapped attribution continuation
        current.append(line)
    if current:
        blocks.append(current)
    answers = [b for b in (_join(strip_signature(b)) for b in blocks) if b]

    if not top and not answers:
        return Extracted("", confident=True, quoted_only=True)
    if top and not answers:
        return Extracted(top, confident=not _leftovers(top), quoted_only=False)
    if not top and len(answers) == 1:
        return Extracted(answers[0], confident=not _leftovers(answers[0]), quoted_only=False)
    body = "\n\n".join(([top] if top else []) + answers)
    return Extracted(body, confident=False, quoted_only=False)
