"""Text at the edge: the characters no stored text may hold, and digits that are really ASCII digits.

Every text that reaches a post, a member or a stored message passes here, whichever way it came (API, SMS,
email). Newline and tab are kept; every other C0/C1 control character, DEL, the XML non-characters U+FFFE and
U+FFFF and lone surrogates are not: PostgreSQL cannot store NUL, an XML document (the Atom feed) cannot hold
any C0 control but tab, newline and carriage return, and a lone surrogate cannot be encoded at all.
"""

from __future__ import annotations

import re

# Vertical tab, form feed and the Unicode "next line" separate words: they become a space, not nothing.
_SPACING = re.compile("[\x0b\x0c\x85]")
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ufffe\uffff\ud800-\udfff]")


def has_control(text: str) -> bool:
    """Whether ``text`` holds a control character other than newline and tab (carriage return included)."""
    return "\r" in text or _CONTROL.search(text) is not None


def strip_control(text: str) -> str:
    """``text`` with CR LF and lone CR read as newlines, spacing controls as spaces, other controls removed."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    return _CONTROL.sub("", _SPACING.sub(" ", text))


def ascii_digits(text: str) -> bool:
    """True for a non-empty string of 0-9 only. ``str.isdigit`` also says yes to ``²`` and ``١٢٣``, which
    ``int()`` then refuses or reads as another number."""
    return text.isascii() and text.isdigit()
