"""Digests of mentions, comments and reviews: one or two SMS the owner answers by number, or one email.

An SMS digest looks like this (one item per line; a newline costs one septet, like a space, and reads better
on a basic phone)::

    12 mentions:
    #4 Bsky cliente1: c'est comment l'Ardoise?
    #5 Google 2*: service lent
    #6 FB Sylvie L.: Les frites étaient froides et la serveuse pas...
    +9: M2
    Répondre: R 4 texte

Contract of :func:`compose_sms_digest`:

* the text is GSM-7 (never UCS-2) and billed as at most ``budget_segments`` segments, counted exactly with
  :func:`app.kit.sms_text.segment_info`;
* items come in :func:`priority` order (questions, then complaints and reviews of 3 stars or less, replies to
  the business's own posts, the rest; newest first within each class); a page shows a prefix of the items not
  shown on earlier pages, at least one item whenever there is one left, so page 1, page 2 (``M2``), ... show
  every item exactly once, deterministically for the same items;
* no paid septet on nothing: the gist drops the @handles a text starts with (the business's own, mostly), the
  business's own handles anywhere they only address it, a leading greeting, and a question's filler
  ("est-ce que", "quick question:"), and starts a question at its question so its object stays; authors are
  short (``Nathalie D.``, ``fan`` for ``@fan31479098.bsky.social``);
* as many items as fit with a gist of :data:`MIN_GIST` septets (:data:`MIN_GIST_QUESTION` for a question) are
  included first, then the septets left over are shared max-min fairly: the shortest cut gist grows to its next
  word, again and again, until nothing more fits (no item gets 150 characters while another keeps two words).

Pure: no I/O, no database and no clock (times come in with the items). Item numbers are the business's short
mention numbers (``R 4``); two items with the same number are refused (ValueError).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Final, Literal

from app.kit.sms_text import ELLIPSIS, Encoding, fits, segment_info, to_gsm7, truncate_to_segments
from app.kit.when_fmt import fmt_date, fmt_time
from app.networks.registry import label as network_label
from app.networks.registry import short_label

__all__ = [
    "AUTHOR_MAX",
    "MIN_GIST",
    "MIN_GIST_QUESTION",
    "Digest",
    "DigestItem",
    "Kind",
    "Lang",
    "compose_email_digest",
    "compose_sms_digest",
    "cost_as_is",
    "is_complaint",
    "is_question",
    "priority",
]

Lang = Literal["fr", "en"]
Kind = Literal["mention", "reply", "quote", "comment", "review"]

MIN_GIST: Final = 24
"""Septets of gist (``...`` included) every shown item gets before any item gets more: a short clause."""

MIN_GIST_QUESTION: Final = 34
"""The same floor for a question: the owner answers from the SMS, and "Avez-vous des..." cannot be answered.
With greetings and filler gone, most questions are shorter than this, so they are shown whole."""

AUTHOR_MAX: Final = 12
"""Septets of author name shown in an SMS digest: a display name becomes first name and initial
(``Marie R.``) or first name, a handle loses its domain and a trailing serial number; longer ones are cut."""

# GSM-7 extension characters: 2 septets each (ESC + code). Every SMS text here is GSM-7 already (it went
# through to_gsm7), so counting these is enough and much cheaper than a per-character table walk.
_EXTENSION: Final = frozenset("\f^{}\\[~]|€")

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


@dataclass(frozen=True, slots=True)
class DigestItem:
    """One collected mention, comment or review, as the digest needs it.

    ``number`` is the short per-business number the owner types (``R 4``). ``rating`` is the review's stars
    (1-5) and ``None`` for anything else. ``created_at`` only orders items; the email shows it as given, so pass
    it in the business's time zone. ``url`` is the item on its network (shown in the email only).
    """

    number: int
    network: str
    kind: Kind
    author: str
    text: str
    rating: int | None
    created_at: datetime
    is_reply_to_us: bool
    url: str | None = None


@dataclass(frozen=True, slots=True)
class Digest:
    """An SMS digest page: its text, the numbers it shows (in order) and how many items later pages hold.

    ``segments`` is what the text is billed; the empty digest (nothing to show) has ``text == ""`` and
    ``segments == 0``, and is not to be sent.
    """

    text: str
    shown: list[int]
    remaining: int
    segments: int
    encoding: Encoding = Encoding.GSM7


_TEXTS: Final[dict[str, dict[Lang, str]]] = {
    "reply_hint": {"fr": "Répondre: R {number} texte", "en": "Reply: R {number} text"},
    "link": {"fr": "lien", "en": "link"},
    "email_subject": {"fr": "Ardoise: {count} pour {business}", "en": "Ardoise: {count} for {business}"},
    "email_intro": {
        "fr": "Bonjour,\n\n{count} pour {business}, les plus importantes en premier.\n"
        "Pour répondre, répondez à ce courriel avec une ligne par réponse, le numéro puis votre texte:\n"
        "{number}: Merci, à bientôt!\n"
        "(R {number} Merci, à bientôt! marche aussi, comme par SMS.)",
        "en": "Hello,\n\n{count} for {business}, most important first.\n"
        "To answer, reply to this email with one line per answer, the number then your text:\n"
        "{number}: Thanks, see you soon!\n"
        "(R {number} Thanks, see you soon! works too, as by SMS.)",
    },
    "email_by": {"fr": "{kind} de {author}", "en": "{kind} by {author}"},
    "email_rating": {"fr": "note {rating}/5", "en": "rating {rating}/5"},
    "email_to_us": {"fr": "en réponse à votre publication", "en": "replying to your post"},
    "email_link": {"fr": "Lien: {url}", "en": "Link: {url}"},
    "email_no_link": {"fr": "Lien: non disponible", "en": "Link: not available"},
    "email_answer": {"fr": "Répondre: {number}: votre texte", "en": "Answer: {number}: your text"},
    "email_empty_text": {"fr": "(sans texte)", "en": "(no text)"},
}

_KIND_WORDS: Final[dict[Kind, dict[Lang, str]]] = {
    "mention": {"fr": "mention", "en": "mention"},
    "reply": {"fr": "réponse", "en": "reply"},
    "quote": {"fr": "citation", "en": "quote"},
    "comment": {"fr": "commentaire", "en": "comment"},
    "review": {"fr": "avis", "en": "review"},
}


def _count(count: int) -> str:
    """The header's count, "1 mention" or "3 mentions": the same words in French and English."""
    return f"{count} mention" if count == 1 else f"{count} mentions"


# --- Priority --------------------------------------------------------------------------------------------------

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


def _is_low_review(item: DigestItem) -> bool:
    return item.kind == "review" and item.rating is not None and item.rating <= 3


def priority(item: DigestItem) -> tuple[int, float, int]:
    """Sort key, most important first: questions (0), reviews of 3 stars or less and complaints that are not
    good reviews (1), replies to the business's own posts (2), the rest (3); newest first within a class, then
    the higher (newer) number first.

    Pass ``created_at`` all aware or all naive: a naive time is read as the machine's local time."""
    if is_question(item.text):
        rank = 0
    elif _is_low_review(item) or ((item.rating is None or item.rating <= 3) and is_complaint(item.text)):
        rank = 1
    elif item.is_reply_to_us:
        rank = 2
    else:
        rank = 3
    return (rank, -item.created_at.timestamp(), -item.number)


def _ordered(items: Sequence[DigestItem]) -> list[DigestItem]:
    numbers = [item.number for item in items]
    if len(set(numbers)) != len(numbers):
        raise ValueError("item numbers must be unique")
    return sorted(items, key=priority)


# --- SMS -------------------------------------------------------------------------------------------------------

_URL: Final = re.compile(r"(?:https?://|www\.)\S+", re.IGNORECASE)
_URL_TAIL: Final = ".,;:!?)]\"'»"
# "@ginette.bsky.social" -> "@ginette", "@luc@mastodon.social" -> "@luc"; an email address (no space before
# the @) is left alone.
_HANDLE: Final = re.compile(r"(?<![\w@.])@(\w[\w-]*)(?:[.@]\w[\w-]*)*")
_AUTHOR_DOMAIN: Final = re.compile(r"^@?([^@\s]+?)(?:\.bsky\.social)?(?:@\S*)?$")


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


def _handle_pattern(handles: Sequence[str]) -> re.Pattern[str] | None:
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


def _gist(text: str, lang: Lang, own: re.Pattern[str] | None = None) -> str:
    """The whole text as the SMS shows it before cutting: GSM-7, links as a word, handles short, one line, with
    nothing that costs septets and says nothing (see the module docstring)."""
    text = _replace_urls(text, _TEXTS["link"][lang]).strip()
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


def _short_author(author: str) -> str:
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
    return _cut(name, AUTHOR_MAX, word_boundary=False)


def _units(text: str) -> int:
    """Septets of a GSM-7 ``text`` (same as :func:`septets`, for text known to be GSM-7)."""
    return len(text) + sum(1 for ch in text if ch in _EXTENSION)


def _fits(text: str, units: int, budget_segments: int) -> bool:
    """``fits(text, budget_segments)`` given the text's septets, skipping the exact count when it cannot matter."""
    if units > _max_units(budget_segments):
        return False
    if units <= 160 or not any(ch in _EXTENSION for ch in text):
        return True
    return fits(text, budget_segments)  # an ESC pair may be pushed to the next part


def _cut(text: str, max_septets: int, *, word_boundary: bool = True) -> str:
    """``text`` (GSM-7) cut to at most ``max_septets`` septets, ending with ``...`` when cut.

    The cut goes back to the previous space when one is near; a text too short even for ``...`` becomes "".
    """
    if _units(text) <= max_septets:
        return text
    if max_septets < len(ELLIPSIS):
        return ""
    room = max_septets - len(ELLIPSIS)
    used = 0
    end = 0
    for ch in text:
        cost = 2 if ch in _EXTENSION else 1
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


@dataclass(frozen=True, slots=True)
class _Entry:
    """One item ready for SMS: ``head`` is "#4 Bsky cliente1" or "#5 Google 2*", ``gist`` the full gist."""

    number: int
    head: str
    gist: str
    floor: int  # MIN_GIST or MIN_GIST_QUESTION

    def line(self, gist: str) -> str:
        return f"{self.head}: {gist}" if gist else self.head

    def min_gist(self) -> str:
        return _cut(self.gist, self.floor)


def _entry(item: DigestItem, lang: Lang, own: re.Pattern[str] | None = None) -> _Entry:
    # the registry's short label: every septet of a label is paid on every line of every digest
    label = to_gsm7(short_label(item.network))[:8]
    who = f"{item.rating}*" if item.kind == "review" and item.rating is not None else _short_author(item.author)
    head = " ".join(part for part in (f"#{item.number}", label, who) if part)
    floor = MIN_GIST_QUESTION if is_question(item.text) else MIN_GIST
    return _Entry(item.number, head, _gist(item.text, lang, own), floor)


def _header(total: int, page: int) -> str:
    return f"{_count(total)}:" if page == 1 else f"{_count(total)} p{page}:"


def _render(header: str, lines: Sequence[str], remaining: int, page: int, hint: str) -> str:
    parts = [header, *lines]
    if remaining:
        parts.append(f"+{remaining}: M{page + 1}")
    parts.append(hint)
    return "\n".join(parts)


def _max_units(budget_segments: int) -> int:
    """GSM-7 septets ``budget_segments`` segments hold, before any ESC pair is pushed to the next part."""
    return 160 if budget_segments == 1 else 153 * budget_segments


def _page(
    queue: Sequence[DigestItem],
    entry_of: Callable[[DigestItem], _Entry],
    total: int,
    page: int,
    lang: Lang,
    budget_segments: int,
) -> tuple[str, int]:
    """Text of one page showing a prefix of ``queue`` (never empty), and how many items it shows.

    ``entry_of`` prepares an item for SMS; it is only called for the items the page may show (to_gsm7 on
    long texts is the costly part).
    """
    header = _header(total, page)
    hint = _TEXTS["reply_hint"][lang].format(number=queue[0].number)
    limit = _max_units(budget_segments)

    # 1. As many items as fit with their minimum gist. Without the footer, the length only grows with k, so
    # the first k over the limit ends the search; with the footer, a larger k can fit where a smaller one
    # did not (the "+r: M2" line goes when r reaches 0), hence every k up to there is tried.
    lines: list[str] = []
    fixed = _units(header) + _units(hint) + 1
    shown = 0
    for item in queue:
        entry = entry_of(item)
        lines.append(entry.line(entry.min_gist()))
        fixed += _units(lines[-1]) + 1
        if fixed > limit:
            break
        remaining = len(queue) - len(lines)
        footer = len(f"+{remaining}: M{page + 1}") + 1 if remaining else 0
        if fixed + footer <= limit:
            text = _render(header, lines, remaining, page, hint)
            if _fits(text, fixed + footer, budget_segments):
                shown = len(lines)
    if shown == 0:
        return _single(entry_of(queue[0]), header, hint, len(queue) - 1, page, budget_segments), 1

    # 2. Share what is left fairly: the shortest cut gist grows to its next word, again and again (see _share).
    # Counting septets ignores an ESC pair pushed to the next part, so if the result does not fit, retry with
    # one septet less (the minimum layout fits).
    entries = [entry_of(item) for item in queue[:shown]]
    remaining = len(queue) - shown
    base = [entry.min_gist() for entry in entries]
    base_units = _units(_render(header, [e.line(g) for e, g in zip(entries, base, strict=True)], remaining, page, hint))
    while True:
        cuts = list(base)
        slack = _share(entries, cuts, limit - base_units)
        text = _render(header, [e.line(c) for e, c in zip(entries, cuts, strict=True)], remaining, page, hint)
        if _fits(text, limit - slack, budget_segments):
            return text, shown
        limit -= 1


def _share(entries: Sequence[_Entry], cuts: list[str], slack: int) -> int:
    """Lengthen ``cuts`` (in place) with ``slack`` septets, max-min fair: the shortest cut gist grows to its next
    word first (ties: the more important item), until nothing more fits. Returns the septets left unused."""
    while slack > 0:
        best: tuple[int, int, str] | None = None
        for i, entry in enumerate(entries):
            if cuts[i] == entry.gist:
                continue
            size = _units(cuts[i])
            if best is not None and size >= best[0]:
                continue
            longer = _next_longer(entry.gist, size, slack)
            if longer is not None:
                best = (size, i, longer)
        if best is None:
            break
        size, i, longer = best
        slack -= _units(longer) - size
        cuts[i] = longer
    return slack


def _next_longer(gist: str, size: int, slack: int) -> str | None:
    """The shortest cut of ``gist`` longer than ``size`` septets that costs at most ``slack`` more, if any."""
    for extra in range(1, slack + 1):
        longer = _cut(gist, size + extra)
        if _units(longer) > size:
            return longer
    return None


def _single(entry: _Entry, header: str, hint: str, remaining: int, page: int, budget_segments: int) -> str:
    """One item with as much gist as fits; only reached with budgets or numbers far outside real use."""
    for room in range(MIN_GIST - 1, -1, -1):
        text = _render(header, [entry.line(_cut(entry.gist, room))], remaining, page, hint)
        if fits(text, budget_segments):
            return text
    return truncate_to_segments(text, budget_segments)


def _pages(
    items: Sequence[DigestItem], lang: Lang, budget_segments: int, own_handles: Sequence[str] = ()
) -> Iterator[Digest]:
    queue = _ordered(items)
    cache: dict[int, _Entry] = {}
    own = _handle_pattern(own_handles)

    def entry_of(item: DigestItem) -> _Entry:
        if item.number not in cache:
            cache[item.number] = _entry(item, lang, own)
        return cache[item.number]

    total = len(queue)
    start = 0
    page = 1
    while start < total:
        text, shown = _page(queue[start:], entry_of, total, page, lang, budget_segments)
        start += shown
        info = segment_info(text)
        yield Digest(
            text=text,
            shown=[item.number for item in queue[start - shown : start]],
            remaining=total - start,
            segments=info.segments,
            encoding=info.encoding,
        )
        page += 1


def compose_sms_digest(
    items: Sequence[DigestItem],
    lang: Lang,
    *,
    budget_segments: int = 2,
    page: int = 1,
    own_handles: Sequence[str] = (),
) -> Digest:
    """Page ``page`` of the SMS digest of ``items`` (see the module docstring for the format and contract).

    ``own_handles`` are the business's handles on its networks (``@lardoise.bsky.social``): a gist does not
    spend septets on them where they only address the business.

    Page 2 shows the items that follow those page 1 shows, and so on; a page past the last one, like an empty
    ``items``, gives the empty digest (``text == ""``, nothing to send: the caller says there is nothing more).
    Raises ValueError when ``budget_segments < 1``, ``page < 1`` or two items share a number.
    """
    if budget_segments < 1:
        raise ValueError("budget_segments must be >= 1")
    if page < 1:
        raise ValueError("page must be >= 1")
    for number, digest in enumerate(_pages(items, lang, budget_segments, own_handles), start=1):
        if number == page:
            return digest
    return Digest(text="", shown=[], remaining=0, segments=0)


def cost_as_is(items: Sequence[DigestItem]) -> int:
    """Segments billed to forward each item as its own SMS, as written: "#4 Bluesky cliente1: <text>".

    No transliteration (one accent or emoji makes the SMS UCS-2) and no cut: what a naive forwarder would pay,
    the baseline the digest is measured against.
    """
    total = 0
    for item in items:
        label = network_label(item.network)
        total += segment_info(f"#{item.number} {label} {item.author}: {item.text}").segments
    return total


# --- Email -----------------------------------------------------------------------------------------------------


def _one_line(text: str) -> str:
    return " ".join(text.split())


def compose_email_digest(items: Sequence[DigestItem], lang: Lang, business_name: str) -> tuple[str, str]:
    """Subject and plain-text body of the email digest: every item, in :func:`priority` order, in full.

    The text is kept as written (email is not billed per segment). Each block gives the number, network, kind,
    author, rating, time, link and how to answer; the owner answers by replying with ``4: text`` or
    ``R 4 text`` lines. Nothing to show gives ``("", "")`` (not to be sent).
    """
    ordered = _ordered(items)
    if not ordered:
        return "", ""
    texts = {key: value[lang] for key, value in _TEXTS.items()}
    business = _one_line(business_name)  # a newline in a Subject header would start a new header
    count = _count(len(ordered))
    subject = texts["email_subject"].format(count=count, business=business)
    blocks = [texts["email_intro"].format(count=count, business=business, number=ordered[0].number)]
    for item in ordered:
        facts = [
            f"#{item.number} {network_label(item.network)}",
            texts["email_by"].format(kind=_KIND_WORDS[item.kind][lang], author=_one_line(item.author) or "?"),
        ]
        if item.rating is not None:
            facts.append(texts["email_rating"].format(rating=item.rating))
        if item.is_reply_to_us:
            facts.append(texts["email_to_us"])
        facts.append(f"{fmt_date(item.created_at.date(), lang)}, {fmt_time(item.created_at.time(), lang)}")
        body = "\n".join(line.rstrip() for line in item.text.strip().splitlines()) or texts["email_empty_text"]
        link = texts["email_link"].format(url=item.url) if item.url else texts["email_no_link"]
        blocks.append("\n".join([" - ".join(facts), body, link, texts["email_answer"].format(number=item.number)]))
    return subject, "\n\n".join(blocks) + "\n"
