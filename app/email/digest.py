"""The mentions digest by email: plain text, small (10 items well under 10 KB), answerable line by line.

The mentions feature decides what goes in a digest; this module only writes it. Each item is numbered with
the mention's per-business number, so the owner answers ``4: Merci!`` on a line of their reply
(``app.commands.parser.parse_email_reply_lines``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from app.catalogue import label, t

MAX_EXCERPT = 280


@dataclass(frozen=True, slots=True)
class DigestItem:
    number: int
    network: str
    author: str
    text: str
    url: str = ""


def _excerpt(text: str) -> str:
    one = " ".join(text.split())
    return one if len(one) <= MAX_EXCERPT else one[: MAX_EXCERPT - 1].rstrip() + "…"


def render_digest(items: Sequence[DigestItem], *, business: str, lang: str) -> tuple[str, str]:
    """(subject, text) of a digest; the text goes through ``queue_email`` (marker and footer added there)."""
    subject = t("email_digest_subject", lang, business=business, count=len(items))
    blocks = []
    for it in items:
        head = f"#{it.number} {label(it.network)} - {it.author}"
        blocks.append("\n".join(x for x in (head, _excerpt(it.text), it.url) if x))
    text = "\n\n".join([*blocks, t("email_digest_howto", lang)])
    return subject, text
