"""SMS text: GSM-7 vs UCS-2, exact segment counts, and transliteration to GSM-7.

Owners pay per SMS segment, so counts here must match what carriers bill (3GPP TS 23.038 / 23.040):

* GSM-7: 160 septets in a single SMS, 153 per part once concatenated (the 6-octet UDH eats 7 septets).
  Basic characters cost 1 septet; extension-table characters (``^ { } \\ [ ~ ] | €`` and form feed) cost 2
  (ESC + code), and an ESC pair is never split across parts.
* UCS-2 (really UTF-16): 70 units single, 67 per part. A character outside the BMP (most emoji) is a
  surrogate pair, costs 2 units and is never split across parts. One non-GSM character anywhere switches the
  whole message to UCS-2.

Parts are filled greedily, as carriers and Twilio do: a pair that would straddle a boundary moves whole to the
next part, so ``segments`` can exceed ``ceil(units / per_segment)``.

The GSM-7 alphabet is read from the ``gsm0338`` codec's decode table (ETSI mapping: 0x09 is uppercase Ç).
Lowercase ç is never GSM-7 here: Unicode's GSM0338.TXT maps 0x09 to ç, phones display Ç ("GarÇon"), so we
transliterate ç to c instead. See docs reference messaging.md section 1.

Pure and domain-free: no I/O, no app imports.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from enum import StrEnum
from typing import Final

import gsm0338  # noqa: F401  # imported for its side effect: registers the "gsm03.38" codec

__all__ = [
    "ELLIPSIS",
    "Encoding",
    "SegmentInfo",
    "encoding_of",
    "fit_owner_text",
    "fits",
    "is_gsm7",
    "segment_info",
    "septets",
    "split_segments",
    "to_gsm7",
    "truncate_to",
    "truncate_to_segments",
    "utf16_units",
]


class Encoding(StrEnum):
    GSM7 = "GSM-7"
    UCS2 = "UCS-2"


# (units in a single SMS, units per part when concatenated)
_BUDGETS: Final[dict[Encoding, tuple[int, int]]] = {
    Encoding.GSM7: (160, 153),
    Encoding.UCS2: (70, 67),
}

ELLIPSIS: Final = "..."
"""What :func:`truncate_to` appends when it cuts: three GSM-7 full stops, not U+2026 (which forces UCS-2)."""

_CODEC: Final = "gsm03.38"
_ESC: Final = 0x1B


def _load_gsm_costs() -> dict[str, int]:
    """Map every GSM-7 character to its septet cost, from the codec's decode table.

    We read the decode direction on purpose: the codec *encodes* U+001B as a bare 0x1B, but ESC is not a
    character (it only introduces the extension table), so it must not count as GSM-7 text.
    """
    costs: dict[str, int] = {}
    for code in range(0x80):
        if code == _ESC:
            continue
        costs[bytes([code]).decode(_CODEC)] = 1
        try:
            extension = bytes([_ESC, code]).decode(_CODEC)
        except UnicodeDecodeError:
            continue
        costs[extension] = 2
    # ETSI puts uppercase Ç at 0x09. Guard against a codec build that follows Unicode's file (lowercase ç):
    # phones would show "GarÇon", so ç must be transliterated to c, never sent as 0x09.
    costs.pop("ç", None)
    costs["Ç"] = 1
    return costs


_GSM_COST: Final[dict[str, int]] = _load_gsm_costs()


@dataclass(frozen=True, slots=True)
class SegmentInfo:
    """How a text is billed.

    ``units`` is septets for GSM-7 and UTF-16 code units for UCS-2; ``per_segment`` is the budget that applied
    (160/70 when the text fits one SMS, 153/67 once it is concatenated).
    """

    encoding: Encoding
    segments: int
    units: int
    per_segment: int


def is_gsm7(text: str) -> bool:
    """True when every character is in the GSM-7 basic or extension table (the empty text is GSM-7)."""
    return all(ch in _GSM_COST for ch in text)


def encoding_of(text: str) -> Encoding:
    """GSM-7 when the whole text is GSM-7, else UCS-2 (one outsider switches the whole message)."""
    return Encoding.GSM7 if is_gsm7(text) else Encoding.UCS2


def septets(text: str) -> int:
    """Septets the text needs in GSM-7: 1 per basic character, 2 per extension character.

    Raises ValueError when the text holds a character that GSM-7 cannot carry.
    """
    return sum(_costs(text, Encoding.GSM7))


def utf16_units(text: str) -> int:
    """UTF-16 code units the text needs in UCS-2: 1 per BMP character, 2 per character above U+FFFF."""
    return sum(_costs(text, Encoding.UCS2))


def _costs(text: str, encoding: Encoding) -> list[int]:
    """Cost of each character of ``text`` in ``encoding``; ValueError if GSM-7 cannot carry one of them."""
    if encoding is Encoding.UCS2:
        # A Python str holds code points, so a surrogate pair is one item here: never split by construction.
        return [2 if ord(ch) > 0xFFFF else 1 for ch in text]
    costs: list[int] = []
    for index, ch in enumerate(text):
        cost = _GSM_COST.get(ch)
        if cost is None:
            raise ValueError(f"not GSM-7: {ch!r} (U+{ord(ch):04X}) at index {index}")
        costs.append(cost)
    return costs


def _part_ends(costs: list[int], limit: int) -> list[int]:
    """End index of each part when characters are packed greedily into parts of ``limit`` units."""
    ends: list[int] = []
    used = 0
    for index, cost in enumerate(costs):
        if used + cost > limit:
            # The whole character (ESC pair or surrogate pair) moves to the next part.
            ends.append(index)
            used = 0
        used += cost
    ends.append(len(costs))
    return ends


def _layout(text: str) -> tuple[SegmentInfo, list[int]]:
    encoding = encoding_of(text)
    costs = _costs(text, encoding)
    units = sum(costs)
    single, multi = _BUDGETS[encoding]
    if units <= single:
        return SegmentInfo(encoding, 1, units, single), [len(text)]
    ends = _part_ends(costs, multi)
    return SegmentInfo(encoding, len(ends), units, multi), ends


def segment_info(text: str) -> SegmentInfo:
    """Encoding, billed segments and units of ``text``, counted exactly as carriers do.

    The empty text counts as 1 segment of 0 units: if it is ever sent, it is still one billed SMS.
    """
    return _layout(text)[0]


def split_segments(text: str) -> list[str]:
    """The parts a carrier would send, in order.

    ``"".join(parts) == text`` and ``len(parts) == segment_info(text).segments``; the empty text gives ``[""]``.
    Each part fits its budget and no ESC pair or surrogate pair is split.
    """
    _, ends = _layout(text)
    parts: list[str] = []
    start = 0
    for end in ends:
        parts.append(text[start:end])
        start = end
    return parts


def fits(text: str, segments: int = 1) -> bool:
    """True when ``text`` is billed as at most ``segments`` SMS segments."""
    if segments < 1:
        raise ValueError("segments must be >= 1")
    return segment_info(text).segments <= segments


def truncate_to(text: str, max_units: int, encoding: Encoding) -> str:
    """Cut ``text`` to at most ``max_units`` units of ``encoding`` (septets or UTF-16 units).

    Returns ``text`` unchanged when it fits. Otherwise returns the longest prefix that leaves room for
    :data:`ELLIPSIS`, with trailing whitespace removed, followed by ``"..."``; an ESC pair or surrogate pair is
    never cut in half. Raises ValueError when ``max_units < 3`` or when ``encoding`` is GSM-7 and ``text`` is not.
    A UCS-2 text may come back as GSM-7 when the cut removes its only non-GSM characters; it then still fits.
    """
    if max_units < len(ELLIPSIS):
        raise ValueError(f"max_units must be >= {len(ELLIPSIS)}")
    costs = _costs(text, encoding)
    if sum(costs) <= max_units:
        return text
    budget = max_units - len(ELLIPSIS)
    used = 0
    end = 0
    for cost in costs:
        if used + cost > budget:
            break
        used += cost
        end += 1
    return text[:end].rstrip() + ELLIPSIS


def truncate_to_segments(text: str, segments: int = 1) -> str:
    """Cut ``text`` (ending with ``"..."``) so that it is billed as at most ``segments`` segments.

    Keeps the text's own encoding; transliterate first with :func:`to_gsm7` to fit more in.
    """
    if segments < 1:
        raise ValueError("segments must be >= 1")
    info = segment_info(text)
    if info.segments <= segments:
        return text
    single, multi = _BUDGETS[info.encoding]
    max_units = single if segments == 1 else segments * multi
    # Each part boundary can waste one unit (a pair pushed to the next part), so this loops at most
    # ``segments`` times.
    while True:
        cut = truncate_to(text, max_units, info.encoding)
        if fits(cut, segments):
            return cut
        max_units -= 1


# --- Transliteration -------------------------------------------------------------------------------------------

_TRANSLIT_GROUPS: Final[dict[str, str]] = {
    # French letters outside GSM-7 (messaging.md 1.3). à è ù é É Ç are GSM-7 and never reach this table.
    "êë": "e",
    "â": "a",
    "îï": "i",
    "ô": "o",
    "û": "u",
    "ç": "c",
    "ÿ": "y",
    "ÀÂ": "A",
    "ÈÊË": "E",
    "ÎÏ": "I",
    "Ô": "O",
    "ÙÛ": "U",
    "Ÿ": "Y",
    "œ": "oe",
    "Œ": "OE",
    # Letters that have no Unicode decomposition, so the NFKD fallback cannot strip them.
    "łŀ": "l",
    "ŁĿ": "L",
    "đð": "d",
    "ĐÐ": "D",
    "ħ": "h",
    "Ħ": "H",
    "ı": "i",
    "ŧ": "t",
    "Ŧ": "T",
    "þ": "th",
    "Þ": "TH",
    "ĸ": "k",
    # Punctuation, as Twilio Smart Encoding does it.
    "’‘‛ʼʻ´`′ˈ‹›": "'",
    "«»“”„‟″❝❞〝〞": '"',
    "–—―‒‐‑−": "-",
    "…": "...",
    "•◦‣▪●": "-",
    "·": ".",  # French inclusive writing: "étudiant·e·s" -> "étudiant.e.s"
    "⁄∕÷": "/",  # U+2044 also makes NFKD fractions (⅓ -> 1⁄3) come out as "1/3"
    "½": "1/2",
    "×": "x",
    # "n°" -> "no" (numéro) reads right; "-25 °C" -> "-25 oC" stays understandable.
    "°": "o",
    "©": "(c)",
    "®": "(R)",
    "¢": "c",
    "≤": "<=",
    "≥": ">=",
    "→➡": "->",
    "←⬅": "<-",
    "⇒": "=>",
    "\t\v": " ",
    "\u2028\u2029": "\n",
    # Common emoji as the text emoticons people already use in SMS.
    "🙂😊😀😃😄😁☺😌🤗": ":)",
    "😉": ";)",
    "😂🤣😆😅": ":D",
    "😢😭☹🙁😞😔😟": ":(",
    "😛😜😝😋": ":P",
    "😮😲😯": ":o",
    "❤♥♡💕💖💗💓💞💘💝💙💚💛🧡💜🖤🤍🤎😍🥰😘😻": "<3",
    "👍": "+1",
    "👎": "-1",
    "🎉🎊🥳❗❕⚠": "!",
    "‼": "!!",
    "❓❔": "?",
    "⁉": "!?",
    "✅✔☑👌": "OK",
    "❌✖✗✘": "X",
    "⭐🌟★☆✨": "*",
}

_TRANSLIT: Final[dict[str, str]] = {ch: out for chars, out in _TRANSLIT_GROUPS.items() for ch in chars}

# Categories dropped outright when nothing better applies: controls, format characters (ZWJ, ZWSP, BOM, soft
# hyphen, emoji tags), combining marks (variation selectors U+FE0F, keycap U+20E3), surrogates, private use and
# unassigned. Skin-tone modifiers are "Sk" and are listed separately.
_DROPPED_CATEGORIES: Final = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Mn", "Mc", "Me"})
_SKIN_TONES: Final = range(0x1F3FB, 0x1F400)


def _map_char(ch: str) -> str:
    """GSM-7 replacement for one character that is not GSM-7 ("" to drop it)."""
    mapped = _TRANSLIT.get(ch)
    if mapped is not None:
        return mapped
    category = unicodedata.category(ch)
    if category == "Zs":
        # NBSP, narrow NBSP (French typography before : ; ! ?), thin and em spaces.
        return " "
    if category in _DROPPED_CATEGORIES or ord(ch) in _SKIN_TONES:
        return ""
    decomposed = unicodedata.normalize("NFKD", ch)
    if decomposed == ch:
        return ""
    # Generic fallback: strip accents (ŝ -> s, á -> a) and unfold compatibility forms (ﬁ -> fi, ² -> 2,
    # full-width Ａ -> A). One level only, so this cannot loop; anything still outside GSM-7 is dropped.
    pieces: list[str] = []
    for part in decomposed:
        if part in _GSM_COST:
            pieces.append(part)
        elif part in _TRANSLIT:
            pieces.append(_TRANSLIT[part])
        elif unicodedata.category(part) == "Zs":
            pieces.append(" ")
    return "".join(pieces)


def _transliterate(text: str) -> tuple[str, int]:
    """GSM-7 version of ``text`` and the number of letters/digits that had to be dropped."""
    if is_gsm7(text):
        return text, 0
    out: list[str] = []
    lost = 0
    after_drop = False  # the previous character(s) were dropped: tidy the space they leave behind
    after_open_quote = False  # « is followed by a space in French; '"' is not
    # NFC first so that decomposed input ("e" + U+0301) becomes the GSM-7 "é" instead of losing its accent.
    for ch in unicodedata.normalize("NFC", text):
        piece = ch if ch in _GSM_COST else _map_char(ch)
        if not piece:
            if unicodedata.category(ch)[0] in "LN":
                lost += 1
            after_drop = True
            continue
        if after_open_quote and piece == " ":
            continue
        after_open_quote = False
        if ch == "»":
            while out and out[-1] == " ":
                out.pop()
        if after_drop:
            after_drop = False
            # "Bonjour 🦄 à tous" -> "Bonjour à tous", not "Bonjour  à tous"; "🦄 Salut" -> "Salut".
            if piece[0] in " \n" and out and out[-1] == " ":
                out.pop()
            elif piece[0] == " " and (not out or out[-1] == "\n"):
                piece = piece[1:]
        out.extend(piece)
        if ch == "«":
            after_open_quote = True
    if after_drop:
        while out and out[-1] == " ":
            out.pop()
    return "".join(out), lost


def to_gsm7(text: str) -> str:
    """Transliterate ``text`` so that it is entirely GSM-7, for the messages we write ourselves.

    Contract: ``is_gsm7(to_gsm7(t))`` always holds, and GSM-7 text comes back unchanged (so the function is
    idempotent). Letters that GSM-7 has (é è à ù ì ò É Ç ü Ü ä Ä ö Ö ñ Ñ ...) are kept; other French letters lose
    their accent (ê -> e, ç -> c, À -> A, œ -> oe); typographic punctuation becomes ASCII (’ -> ', « » -> ", – ->
    -, … -> ...); Unicode spaces and tab become a space; common emoji become emoticons (🙂 -> :), ❤️ -> <3,
    👍 -> +1) and variation selectors, ZWJ and skin tones vanish. Any other character is decomposed (NFKD) and
    stripped of accents, or dropped when nothing GSM-7 remains (other scripts, other emoji, flags). The space a
    dropped character leaves is tidied, and the spaces inside French guillemets go: « oui » -> "oui".
    """
    return _transliterate(text)[0]


def fit_owner_text(text: str, budget_segments: int | None = None) -> str:
    """The owner's own words, echoed back in an SMS, at the lowest cost that respects them.

    Returns ``text`` as written unless :func:`to_gsm7` bills at least one segment less, in which case the
    transliteration is returned. The transliteration is never used when it would drop a letter or digit (another
    script, say): saving a segment is not worth losing words.

    With ``budget_segments``, the result is also cut (ending with "...") so that it fits that many segments; of
    the two candidates, the one that keeps the larger share of its text wins (ties keep the owner's spelling).
    """
    if budget_segments is not None and budget_segments < 1:
        raise ValueError("budget_segments must be >= 1")
    gsm, lost = _transliterate(text)
    candidates = [text] if lost or gsm == text else [text, gsm]
    chosen = text
    if len(candidates) == 2 and segment_info(gsm).segments < segment_info(text).segments:
        chosen = gsm
    if budget_segments is None or fits(chosen, budget_segments):
        return chosen
    best = text
    best_share = -1.0
    for candidate in candidates:
        cut = truncate_to_segments(candidate, budget_segments)
        share = len(cut.removesuffix(ELLIPSIS)) / len(candidate)
        if share > best_share:
            best, best_share = cut, share
    return best
