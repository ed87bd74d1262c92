"""What one mention, comment or review says in the fewest septets: the gist an SMS digest line shows.

:func:`is_question` and :func:`is_complaint` read a text (French and English) for the digest's priority;
:func:`gist_of` keeps what the owner needs and drops what costs septets and says nothing, :func:`short_author`
shortens names, :func:`cut` cuts on a word (the "no paid septet on nothing" clause of the contract in
``app.mentions.digest``, which lays these lines out on SMS pages).

Pure: no I/O, no database and no clock.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from typing import Final

from app.kit.sms_text import ELLIPSIS, to_gsm7

AUTHOR_MAX: Final = 12
"""Septets of author name shown in an SMS digest: a display name becomes first name and initial
(``Marie R.``) or first name, a handle loses its domain and a trailing serial number; longer ones are cut."""

# GSM-7 extension characters: 2 septets each (ESC + code). Every SMS text here is GSM-7 already (it went
# through to_gsm7), so counting these is enough and much cheaper than a per-character table walk.
EXTENSION: Final = frozenset("\f^{}\\[~]|€")

# A cut goes back to the previous space unless that would drop more than this share of what fits: a cut word
# reads better than a wasted line only when the line would lose most of its words.
_WORD_BACKTRACK_SHARE: Final = 0.5

# Words a cut gist does not end on (articles, prepositions, conjunctions): they carry nothing without what follows.
_WEAK_ENDINGS: Final = frozenset(
    (  # noqa: SIM905  # one word list reads better than 60 lines of strings
        "le la les l' un une des du de d' au aux à pour sur en et ou dans par avec chez ce cette ces mon ma mes "
        "votre vos notre nos leur qui que qu' the a an of for on and or to in with at by from my your our their "
        "this do that is are was were"
    ).split()
)

# Matched against the start of the text, lowercased, without accents and with straight apostrophes, so "Où",
# "Ou", "Êtes-vous" and "Etes-vous" all count.
_QUESTION_START: Final = re.compile(
    r"""^(?:
        comment|quand|ou|pourquoi|combien|quel|quelle|quels|quelles|qui|quoi
        |est[- ]ce|qu'est[- ]ce|a\ quel|a\ quelle|c'est\ (?:quoi|combien|quand|ou|comment)|y\ a[- ]t[- ]il
        |how|when|where|what|why|who|which|whose
        |do\ you|does|did\ you|are\ you|are\ there|is\ it|is\ there|is\ this|is\ the
        |can\ i|can\ we|can\ you|could\ you|could\ i|would\ you|will\ you|should\ i
    )\b
    # French inversion: "Avez-vous", "Livrez-vous", "Peut-on", "Sera-t-il", "Faut-il".
    # ("Rendez-vous samedi" is an appointment, not a question.)
    |^(?!rendez-vous)[a-z]+-(?:t-)?(?:vous|tu|il|elle|on|ils|elles)\b""",
    re.VERBOSE,
)
_SENTENCE_END: Final = re.compile(r"[.!?\n]")
# Only the start of a text decides (its first words, its first sentence's end): folding a whole long review
# for that is wasted work.
_QUESTION_SCAN: Final = 120


def _fold(text: str) -> str:
    """Lowercase, accents stripped, curly apostrophes straightened, leading spaces and quotes removed."""
    decomposed = unicodedata.normalize("NFKD", text.replace("’", "'").replace("‘", "'"))
    stripped = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return stripped.lower().lstrip(" \t\r\n\"'«»-")


def is_question(text: str) -> bool:
    """True when the text asks something: it holds a "?", or starts with a French or English question word.

    A question-word start followed by "!" reads as an exclamation ("Quelle belle soirée!", "What a place!"), and
    the "?" of a link's query string does not count.
    """
    text = _URL.sub("", text)
    if "?" in text or "❓" in text or "❔" in text:
        return True
    folded = _fold(text[:_QUESTION_SCAN])
    if not _QUESTION_START.search(folded):
        return False
    end = _SENTENCE_END.search(folded)
    return end is None or end.group() != "!"


# A small lexicon of complaints, French and English, matched on whole words of the folded text (no accents,
# lowercase): a comment saying the food was cold ranks with a 1-star review, not with "the rest".
_COMPLAINT: Final = re.compile(
    r"""\b(?:
        froids?|froides?|tiedes?|lents?|lentes?|attendu|attente|decue?s?|decevante?s?|deception|dommage|salete
        |sales?\ (?:table|toilettes?)|impolie?s?|pas\ (?:tres\ )?(?:aimable|bon|bonne|frais|fraiche|propre)
        |desagreables?|inacceptable|cheveux?|malades?|plus\ jamais|jamais\ plus|pires?|horrible|degueu\w*
        |trop\ cher|arnaque|rembourse\w*|plainte|mauvaise?s?|brule\w*|bruyante?s?|intoxication
        |cold|slow|waited|rude|disappoint\w*|dirty|unacceptable|hair|sick|never\ again|worst|terrible|awful
        |overpriced|refund\w*|complain\w*|bad|burnt|raw|loud|stale|food\ poisoning|not\ (?:fresh|good|clean)
    )\b""",
    re.VERBOSE,
)


def is_complaint(text: str) -> bool:
    """True when the text complains (a small FR/EN lexicon: froid, lent, déçu, cold, rude, never again...)."""
    return bool(_COMPLAINT.search(_fold(text)))


_URL: Final = re.compile(r"(?:https?://|www\.)\S+", re.IGNORECASE)
_URL_TAIL: Final = ".,;:!?)]\"'»"
# "@ginette.bsky.social" -> "@ginette", "@luc@mastodon.social" -> "@luc"; an email address (no space before
# the @) is left alone.
_HANDLE: Final = re.compile(r"(?<![\w@.])@(\w[\w-]*)(?:[.@]\w[\w-]*)*")


def _replace_urls(text: str, word: str) -> str:
    def replace(match: re.Match[str]) -> str:
        url = match.group()
        tail = len(url) - len(url.rstrip(_URL_TAIL))
        return word + (url[len(url) - tail :] if tail else "")

    return _URL.sub(replace, text)


# Handles a text starts with only address it (on Mastodon a reply starts with them): "@lardoise@mastodon.social
# @chef merci" says "merci".
_LEADING_HANDLES: Final = re.compile(r"^(?:\s*@\w[\w.@-]*[,:]?)+\s*")
_GREETING: Final = re.compile(
    r"^(?:bonjour|bonsoir|salut|allo|allô|coucou|hello|hi|hey|good\ (?:morning|afternoon|evening))\b[\s,!.]*"
    r"(?:(?:petite\ )?question\s*:|quick\ question\s*:)?\s*",
    re.IGNORECASE | re.VERBOSE,
)
# Words a question can lose and still ask the same thing.
_FILLER: Final = re.compile(
    r"\b(?:est-ce\ qu(?:e\ |['’])|je\ (?:voulais|voudrais)\ savoir\ si\ |je\ me\ demandais\ si\ "
    r"|i\ was\ wondering\ if\ |(?:do\ you\ )?know\ if\ )",
    re.IGNORECASE | re.VERBOSE,
)
_SPACE_BEFORE_PUNCTUATION: Final = re.compile(r"\s+([,.!?;:])(?=\s|$)")
_GSM7_UPPER: Final = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZÉÄÖÑÜÅÆØÇ")
_SENTENCE: Final = re.compile(r"[^.!?]*[.!?]+\s*|[^.!?]+$")


def handle_pattern(handles: Sequence[str]) -> re.Pattern[str] | None:
    """A pattern matching the business's own handles, full (``@lardoise.bsky.social``) or short (``@lardoise``)."""
    names = {"@" + h.strip().lower().lstrip("@") for h in handles if h.strip().lstrip("@")}
    names |= {"@" + h.lstrip("@").split("@")[0].split(".")[0] for h in names}
    names = {n for n in names if len(n) > 1}
    if not names:
        return None
    alternatives = "|".join(re.escape(n) for n in sorted(names, key=len, reverse=True))
    return re.compile(rf"(?<![\w@.])(?:{alternatives})(?![\w@-]|\.\w)", re.IGNORECASE)


def _question_start(text: str) -> str:
    """For a question, the text from the sentence that asks it: what comes before ("Super soirée hier.") is
    the part of a question the owner can do without."""
    if "?" not in text:
        return text
    start = 0
    for match in _SENTENCE.finditer(text):
        if "?" in match.group():
            return text[start:] if is_question(match.group()) else text
        start = match.end()
    return text


def gist_of(text: str, link: str, own: re.Pattern[str] | None = None) -> str:
    """The whole text as the SMS shows it before cutting: GSM-7, links as a word, handles short, one line, with
    nothing that costs septets and says nothing (see the module docstring); links read ``link``."""
    text = _replace_urls(text, link).strip()
    start = text
    text = _LEADING_HANDLES.sub("", text)
    if own is not None:
        # The business's own handle at the end or before punctuation only addresses it: "bravo @lardoise!".
        text = own.sub(lambda m: "" if _addresses(text, m) else m.group(), text).strip()
    text = _GREETING.sub("", text, count=1) or text
    if is_question(text):
        text = _FILLER.sub("", _question_start(text))
    cut_front = not start.startswith(text[:1] + text[1:12]) if text else False
    text = _HANDLE.sub(lambda m: "@" + m.group(1)[:15], text)
    text = _SPACE_BEFORE_PUNCTUATION.sub(r"\1", " ".join(to_gsm7(text).split()))
    if cut_front and text[:1].upper() in _GSM7_UPPER:
        text = text[:1].upper() + text[1:]  # the sentence now starts here: "vous ouvrez?" -> "Vous ouvrez?"
    return text


def _addresses(text: str, match: re.Match[str]) -> bool:
    """True when the handle at ``match`` is at the end of ``text`` or followed by punctuation."""
    rest = text[match.end() :].lstrip()
    return not rest or rest[0] in ",.!?;:"


def short_author(author: str) -> str:
    """ "@cliente1.bsky.social" -> "cliente1", "@luc@mastodon.social" -> "luc", "@fan31479098.bsky.social" ->
    "fan", "Nathalie Dubois-Charbonneau" -> "Nathalie", "Marie Roy-Côté" -> "Marie R.", at most AUTHOR_MAX septets."""
    name = " ".join(to_gsm7(author).split())
    if name and " " not in name:
        name = name.lstrip("@").split("@")[0]
        if "." in name.strip("."):
            name = name.split(".")[0] or name
        serial = re.fullmatch(r"([A-Za-z_.-]{3,}?)[_.-]?\d{4,}", name)
        if serial:
            name = serial.group(1)
    elif len(name) > AUTHOR_MAX:
        words = name.split()
        initial = words[-1][:1]
        if len(words[0]) + 3 <= AUTHOR_MAX and initial.isalpha():
            return f"{words[0]} {initial}."
        if len(words[0]) <= AUTHOR_MAX:
            return words[0]
    return cut(name, AUTHOR_MAX, word_boundary=False)


def gsm7_units(text: str) -> int:
    """Septets of a GSM-7 ``text`` (same as :func:`septets`, for text known to be GSM-7)."""
    return len(text) + sum(1 for ch in text if ch in EXTENSION)


def cut(text: str, max_septets: int, *, word_boundary: bool = True) -> str:
    """``text`` (GSM-7) cut to at most ``max_septets`` septets, ending with ``...`` when cut.

    The cut goes back to the previous space when one is near; a text too short even for ``...`` becomes "".
    """
    if gsm7_units(text) <= max_septets:
        return text
    if max_septets < len(ELLIPSIS):
        return ""
    room = max_septets - len(ELLIPSIS)
    used = 0
    end = 0
    for ch in text:
        cost = 2 if ch in EXTENSION else 1
        if used + cost > room:
            break
        used += cost
        end += 1
    head = text[:end]
    if word_boundary and not text[end].isspace():
        space = head.rfind(" ")
        if space > 0 and space >= end * (1 - _WORD_BACKTRACK_SHARE):
            head = head[:space]
    if word_boundary:
        # "sur la..." says nothing more than "...": the septets go to another line.
        words = head.rstrip(" ,;:-(").split(" ")
        while len(words) > 3 and words[-1].lower() in _WEAK_ENDINGS:
            words.pop()
        head = " ".join(words)
    return head.rstrip(" ,;:-(") + ELLIPSIS
