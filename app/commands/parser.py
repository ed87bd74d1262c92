"""Read one owner message (an SMS body, or the command line of an email) into a command.

``parse(text)`` is a pure function: no I/O, no database, no settings, no clock. It never raises on any
``str`` and returns one of the frozen dataclasses below. docs/commands.md is the owner's version of
these rules; the tests in tests/commands/test_parser.py are their exhaustive list.

The rules, in the order they are applied:

1. Surrounding whitespace (and a leading byte-order mark or zero-width space) is ignored. An empty
   message is :class:`Empty`; one over :data:`MAX_TEXT` characters is :class:`TooLong`.
2. The keyword is the whole first word, matched without regard to case, accents, apostrophes,
   surrounding quotes or trailing punctuation: ``publier``, ``PUBLIER:``, ``Publiér``, ``« STOP »``,
   ``J'aime``, ``Stop!``. ``POSTER`` is not ``POST`` and ``Publications`` is not ``PUB``.
3. Text arguments (``PUBLIER``, ``R n``) keep the owner's text exactly (accents, emoji, case, inner
   newlines); only the surrounding whitespace and one separator after the keyword (``:``, ``-``...) go.
4. Words a carrier or a person may send alone (STOP, START, HELP, OUI, ETAT, REPRISE...) are commands
   only when they are the whole message, give or take politeness (``oui merci``, ``aide svp``):
   ``Stop by tonight for jazz`` is a post, not an opt-out.
5. A keyword followed by arguments it cannot take is :class:`Invalid` when the arguments look like an
   attempt at the command (``R`` with no number, ``PIN abc``, ``LANGUE DE``), and ordinary text
   (:class:`Unknown`, which the service offers to publish) when they read as prose
   (``Pause estivale du 1er au 15``, ``Langue de veau ce midi``, ``M. Tremblay``).
6. A first word one edit (Damerau-Levenshtein) from a keyword of four letters or more is a
   :class:`Suggest` (``PUBLIR Menu`` → did you mean PUBLIER?) that the service confirms before acting.
   Single letters, short words, the opt-out family and common words near ``POST`` never are.
7. Anything else is :class:`LoneWord` (one word: gets the short help) or :class:`Unknown` (free text).

Every command records ``keyword_lang``, the language of the keyword the member typed (``None`` for
keywords shared by both languages, like ``STOP``, ``R`` or ``MENTIONS``), so a stranger's HELP or STOP
is answered in the language it was written in (members are answered in their own language).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import time
from typing import Literal, TypeAlias

from app.scheduling.grammar import Spec, read_when

Lang: TypeAlias = Literal["fr", "en"]

MAX_TEXT = 1600
"""Longest message accepted, in characters: Twilio's own limit for one SMS body (10 segments)."""

MAX_NUMBER_DIGITS = 6
"""Post and mention numbers are short per-business counters; six digits is far beyond any real one."""

PIN_MIN_DIGITS = 4
PIN_MAX_DIGITS = 8
MAX_DIGEST_HOURS = 4
"""More digest slots than this cannot fit the default daily cap of 6 segments anyway."""

DEFAULT_PAUSE_DAYS = 1
MAX_PAUSE_DAYS = 365

CommandName: TypeAlias = Literal[
    "publish",
    "undo",
    "status",
    "help",
    "stop",
    "start",
    "language",
    "confirm",
    "pin",
    "reply",
    "like",
    "mentions",
    "hours",
    "pause",
    "resume",
    "alerts",
    "schedule",
    "scheduled",
]

InvalidReason: TypeAlias = Literal[
    "missing_number",  # R, J, EFFACER... with no number
    "bad_number",  # 0, or more than MAX_NUMBER_DIGITS digits, or words where only a number fits
    "missing_text",  # R 4 with nothing to say
    "extra_text",  # J 4 merci: a like carries no text
    "missing_pin",
    "bad_pin",  # not 4 to 8 digits
    "missing_language",
    "bad_language",  # LANGUE DE
    "missing_time",
    "bad_time",  # HEURES 25h, HEURES 8h75
    "too_many_times",
    "bad_duration",  # PAUSE 0, PAUSE 3h, PAUSE 900j
    "missing_value",  # ALERTES with no OUI/NON
    "bad_value",
    "bad_page",  # M0
]


# --- Commands: what the member asked for --------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Publish:
    """Publish ``text`` everywhere. ``text`` may be empty: an MMS or an email with photos and a bare
    ``PUBLIER``; the service refuses it when there is no media either."""

    text: str
    keyword_lang: Lang | None = field(default=None, kw_only=True)


@dataclass(frozen=True, slots=True)
class Undo:
    """Remove post ``number`` from every network (``None``: the member's last post)."""

    number: int | None
    keyword_lang: Lang | None = field(default=None, kw_only=True)


@dataclass(frozen=True, slots=True)
class Status:
    keyword_lang: Lang | None = field(default=None, kw_only=True)


@dataclass(frozen=True, slots=True)
class Help:
    """``topic`` is set when the member asked about one command (``AIDE R``, ``HELP POST``)."""

    topic: CommandName | None = None
    keyword_lang: Lang | None = field(default=None, kw_only=True)


@dataclass(frozen=True, slots=True)
class Stop:
    """Opt out (carrier keyword: answered to anyone, member or not)."""

    keyword_lang: Lang | None = field(default=None, kw_only=True)


@dataclass(frozen=True, slots=True)
class Start:
    """Opt back in."""

    keyword_lang: Lang | None = field(default=None, kw_only=True)


@dataclass(frozen=True, slots=True)
class Language:
    """Switch the member's language to ``lang``."""

    lang: Lang
    keyword_lang: Lang | None = field(default=None, kw_only=True)


@dataclass(frozen=True, slots=True)
class Confirm:
    """Answer to the last question (``Publier ce texte? Repondez OUI``)."""

    yes: bool
    keyword_lang: Lang | None = field(default=None, kw_only=True)


@dataclass(frozen=True, slots=True)
class Pin:
    """The member's PIN, asked before risky commands. Kept out of ``repr`` so logs never show it."""

    code: str = field(repr=False)
    keyword_lang: Lang | None = field(default=None, kw_only=True)


@dataclass(frozen=True, slots=True)
class Reply:
    """Answer mention ``number`` on the network it came from."""

    number: int
    text: str
    keyword_lang: Lang | None = field(default=None, kw_only=True)


@dataclass(frozen=True, slots=True)
class Like:
    number: int
    keyword_lang: Lang | None = field(default=None, kw_only=True)


@dataclass(frozen=True, slots=True)
class Mentions:
    """Send the mentions digest now; page 2 is what ``+4: M2`` at the end of page 1 points to."""

    page: int = 1
    keyword_lang: Lang | None = field(default=None, kw_only=True)


@dataclass(frozen=True, slots=True)
class Hours:
    """Digest times, local to the business, sorted and without duplicates."""

    hours: tuple[time, ...]
    keyword_lang: Lang | None = field(default=None, kw_only=True)


@dataclass(frozen=True, slots=True)
class Pause:
    """No digests for ``days`` days."""

    days: int = DEFAULT_PAUSE_DAYS
    keyword_lang: Lang | None = field(default=None, kw_only=True)


@dataclass(frozen=True, slots=True)
class Resume:
    """End a pause."""

    keyword_lang: Lang | None = field(default=None, kw_only=True)


@dataclass(frozen=True, slots=True)
class Alerts:
    """Send questions and low ratings at once (outside quiet hours) instead of waiting for a digest."""

    on: bool
    keyword_lang: Lang | None = field(default=None, kw_only=True)


@dataclass(frozen=True, slots=True)
class Schedule:
    """Publish ``text`` later (``PUBLIER demain 11h Menu``, ``CHAQUE lundi 11h Menu``): ``when`` is what
    app.scheduling.grammar read, before any calendar; the service puts it on the business's. ``text`` may be
    empty (a photo)."""

    when: Spec
    text: str
    keyword_lang: Lang | None = field(default=None, kw_only=True)


@dataclass(frozen=True, slots=True)
class Scheduled:
    """List the scheduled posts (``PROG``, ``SCHEDULED``)."""

    keyword_lang: Lang | None = field(default=None, kw_only=True)


@dataclass(frozen=True, slots=True)
class Unschedule:
    """Cancel scheduled post ``number`` (``ANNULER P14``, ``UNDO P14``) before it goes out."""

    number: int
    keyword_lang: Lang | None = field(default=None, kw_only=True)


Command: TypeAlias = (
    Publish
    | Undo
    | Status
    | Help
    | Stop
    | Start
    | Language
    | Confirm
    | Pin
    | Reply
    | Like
    | Mentions
    | Hours
    | Pause
    | Resume
    | Alerts
    | Schedule
    | Scheduled
    | Unschedule
)

NAMES: dict[type[Command], CommandName] = {
    Publish: "publish",
    Undo: "undo",
    Status: "status",
    Help: "help",
    Stop: "stop",
    Start: "start",
    Language: "language",
    Confirm: "confirm",
    Pin: "pin",
    Reply: "reply",
    Like: "like",
    Mentions: "mentions",
    Hours: "hours",
    Pause: "pause",
    Resume: "resume",
    Alerts: "alerts",
    Schedule: "schedule",
    Scheduled: "scheduled",
    Unschedule: "undo",  # ANNULER P14: the undo of a post not out yet
}
"""The name of each command: its help topic (``help_<name>`` in the catalogue) and the key of its spelling."""

SPELLING: dict[CommandName, tuple[str, str]] = {
    "publish": ("PUBLIER", "POST"),
    "undo": ("ANNULER", "UNDO"),
    "status": ("ETAT", "STATUS"),
    "help": ("AIDE", "HELP"),
    "stop": ("ARRET", "STOP"),
    "start": ("DEBUT", "START"),
    "language": ("LANGUE", "LANGUAGE"),
    "confirm": ("OUI", "YES"),
    "pin": ("PIN", "PIN"),
    "reply": ("REPONDRE", "REPLY"),
    "like": ("J", "LIKE"),
    "mentions": ("MENTIONS", "MENTIONS"),
    "hours": ("HEURES", "HOURS"),
    "pause": ("PAUSE", "PAUSE"),
    "resume": ("REPRISE", "RESUME"),
    "alerts": ("ALERTES", "ALERTS"),
    "schedule": ("PUBLIER", "POST"),  # PUBLIER demain 11h ... (CHAQUE only for a weekly post)
    "scheduled": ("PROG", "SCHEDULED"),
}
"""How Ardoise writes each command (French, English), e.g. when it asks ``Vouliez-vous dire PUBLIER?``; every
spelling is one of the keywords below (``tests/commands/test_parser.py`` checks it)."""


def spelling(cmd: Command, lang: str) -> str:
    """The keyword of ``cmd`` as Ardoise writes it in ``lang``."""
    fr, en = SPELLING[NAMES[type(cmd)]]
    return fr if lang == "fr" else en


# --- Results that are not (yet) a command --------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Suggest:
    """The first word ``typed`` is one typo from a keyword; ``command`` is what it would mean.
    The service asks (``PUBLIER « Menu du jour »? Repondez OUI``) and never acts before the answer."""

    command: Command
    typed: str


@dataclass(frozen=True, slots=True)
class Unknown:
    """Free text with no keyword: the service asks ``Publier ce texte?`` and publishes ``text`` on OUI.
    ``text`` is the whole message, trimmed."""

    text: str


@dataclass(frozen=True, slots=True)
class LoneWord:
    """A single word that is no command (``Bonjour``, ``4821``, ``👍``): answered with the short help, unless it
    only acknowledges (:func:`is_acknowledgement`) or comes with a photo (then it is the photo's caption)."""

    word: str


@dataclass(frozen=True, slots=True)
class Invalid:
    """A known keyword with arguments it cannot take. ``keyword`` is the keyword as matched (upper case,
    no accents: ``REPONDRE``, ``R``, ``PIN``) so the service can show its usage."""

    keyword: str
    reason: InvalidReason
    keyword_lang: Lang | None = field(default=None, kw_only=True)


@dataclass(frozen=True, slots=True)
class Empty:
    """Nothing but whitespace (an MMS with photos only arrives like this)."""


@dataclass(frozen=True, slots=True)
class TooLong:
    """Over :data:`MAX_TEXT` characters (after trimming): refused, nothing is cut."""

    length: int


ParseResult: TypeAlias = Command | Suggest | Unknown | LoneWord | Invalid | Empty | TooLong


# --- Keywords ----------------------------------------------------------------------------------

# Internal kinds: a few CommandNames need two behaviours (EFFACER requires the number ANNULER makes
# optional; OUI and NON are one command with two values; FRANCAIS alone is LANGUE FR).
_Kind: TypeAlias = Literal[
    "publish",
    "undo",
    "delete",
    "status",
    "help",
    "stop",
    "start",
    "language",
    "language_word",
    "yes",
    "no",
    "pin",
    "reply",
    "like",
    "mentions",
    "hours",
    "pause",
    "resume",
    "alerts",
    "schedule",
    "scheduled",
]

_TOPIC: dict[_Kind, CommandName] = {
    "publish": "publish",
    "undo": "undo",
    "delete": "undo",
    "status": "status",
    "help": "help",
    "stop": "stop",
    "start": "start",
    "language": "language",
    "language_word": "language",
    "yes": "confirm",
    "no": "confirm",
    "pin": "pin",
    "reply": "reply",
    "like": "like",
    "mentions": "mentions",
    "hours": "hours",
    "pause": "pause",
    "resume": "resume",
    "alerts": "alerts",
    "schedule": "schedule",
    "scheduled": "scheduled",
}

# Folded spelling (upper case, no accents, no apostrophes) → kind and the keyword's language. None
# marks words both languages use (carriers list STOP and INFO as bilingual; R, M, ? are symbols).
_KEYWORDS: dict[str, tuple[_Kind, Lang | None]] = {
    "PUBLIER": ("publish", "fr"),
    "PUB": ("publish", None),
    "POST": ("publish", "en"),
    "PUBLISH": ("publish", "en"),
    "ANNULER": ("undo", "fr"),
    "UNDO": ("undo", "en"),
    "EFFACER": ("delete", "fr"),
    "SUPPRIMER": ("delete", "fr"),
    "DELETE": ("delete", "en"),
    "ETAT": ("status", "fr"),
    "STATUT": ("status", "fr"),
    "STATUS": ("status", "en"),
    "AIDE": ("help", "fr"),
    "HELP": ("help", "en"),
    "INFO": ("help", None),
    "INFOS": ("help", "fr"),
    "ARRET": ("stop", "fr"),
    "STOP": ("stop", None),
    "STOPALL": ("stop", "en"),
    "UNSUBSCRIBE": ("stop", "en"),
    "CANCEL": ("stop", "en"),
    "END": ("stop", "en"),
    "QUIT": ("stop", "en"),
    "START": ("start", "en"),
    "UNSTOP": ("start", "en"),
    "DEBUT": ("start", "fr"),
    "LANGUE": ("language", "fr"),
    "LANGUAGE": ("language", "en"),
    "LANG": ("language", None),
    "FRANCAIS": ("language_word", "fr"),
    "ANGLAIS": ("language_word", "fr"),
    "FRENCH": ("language_word", "en"),
    "ENGLISH": ("language_word", "en"),
    "OUI": ("yes", "fr"),
    "O": ("yes", "fr"),
    "YES": ("yes", "en"),
    "Y": ("yes", "en"),
    "NON": ("no", "fr"),
    "NO": ("no", "en"),
    "N": ("no", None),
    "PIN": ("pin", None),
    "NIP": ("pin", "fr"),  # Québec says NIP (numéro d'identification personnel)
    "R": ("reply", None),
    "REPONDRE": ("reply", "fr"),
    "REPLY": ("reply", "en"),
    "J": ("like", "fr"),  # J for J'aime
    "JAIME": ("like", "fr"),
    "LIKE": ("like", "en"),
    "MENTIONS": ("mentions", None),
    "MENTION": ("mentions", None),
    "M": ("mentions", None),
    "?": ("mentions", None),
    "HEURES": ("hours", "fr"),
    "HEURE": ("hours", "fr"),
    "HOURS": ("hours", "en"),
    "HOUR": ("hours", "en"),
    "PAUSE": ("pause", None),
    "REPRISE": ("resume", "fr"),
    "RESUME": ("resume", "en"),
    "ALERTES": ("alerts", "fr"),
    "ALERTE": ("alerts", "fr"),
    "ALERTS": ("alerts", "en"),
    "ALERT": ("alerts", "en"),
    "CHAQUE": ("schedule", "fr"),
    "EVERY": ("schedule", "en"),
    "PROG": ("scheduled", "fr"),
    "PROGRAMME": ("scheduled", "fr"),
    "PROGRAMMES": ("scheduled", "fr"),
    "SCHEDULED": ("scheduled", "en"),
    "SCHEDULE": ("scheduled", "en"),
}

# R4, J4, M2: the number typed without a space, as people do on a keypad.
_GLUED = re.compile(r"(R|J|M)([0-9]+)")

# Opting out or in must be deliberate and exact (carriers only honour exact words), so a typo there
# is never "corrected" into one; single letters and short words have too many real neighbours.
# CHAQUE/EVERY neither: a typo there would be corrected into PUBLIER and lose "every week".
_NOT_FUZZY_KINDS: frozenset[_Kind] = frozenset({"stop", "start", "yes", "no", "schedule"})
_FUZZY_MIN_LEN = 4
_FUZZY_TARGETS: tuple[str, ...] = tuple(
    k for k, (kind, _) in _KEYWORDS.items() if len(k) >= _FUZZY_MIN_LEN and kind not in _NOT_FUZZY_KINDS
)

# Real words one edit from a keyword whose arguments are free text (POST): reading them as a typo
# would publish the post without its first word, so they stay plain text (the service asks first).
_NOT_TYPOS: frozenset[str] = frozenset(
    {
        "COST",
        "HOST",
        "LOST",
        "MOST",
        "PAST",
        "PEST",
        "POET",
        "PONT",
        "PORT",
        "POSE",
        "POSH",
        "POSIT",
        "POSY",
        "POTS",
        "POUT",
        "POSTE",
        "POSTS",
        "PROST",
    }
)

# Words that may follow a whole-message keyword without making it text: politeness and emphasis.
# (SIL is s'il of "s'il vous plaît" once the apostrophe is folded away.)
_FILLERS: frozenset[str] = frozenset(
    {
        "SVP",
        "STP",
        "SIL",
        "VOUS",
        "TE",
        "PLAIT",
        "MERCI",
        "BEAUCOUP",
        "PLEASE",
        "PLS",
        "PLZ",
        "THANKS",
        "THANK",
        "YOU",
        "THX",
        "OK",
        "OKAY",
        "MOI",
        "ME",
    }
)

_LAST_WORDS: frozenset[str] = frozenset({"LE", "LA", "DERNIER", "DERNIERE", "THE", "LAST", "ONE"})

_LANGUAGE_ARGS: dict[str, Lang] = {
    "FR": "fr",
    "F": "fr",
    "FRA": "fr",
    "FRANCAIS": "fr",
    "FRANCAISE": "fr",
    "FRENCH": "fr",
    "EN": "en",
    "E": "en",
    "ENG": "en",
    "ANGLAIS": "en",
    "ENGLISH": "en",
}
_LANGUAGE_WORDS: dict[str, Lang] = {"FRANCAIS": "fr", "FRENCH": "fr", "ANGLAIS": "en", "ENGLISH": "en"}

_ON_WORDS = frozenset({"OUI", "O", "ON", "YES", "Y"})
_OFF_WORDS = frozenset({"NON", "OFF", "NO", "N"})

# One separator after a keyword or a number is dropped with the whitespace around it.
_SEPARATORS = ":-–—.,;>"
_APOSTROPHES = "'’‘ʼ`´"
_QUOTE_PAIRS: dict[str, str] = {'"': '"', "“": "”", "„": "“", "«": "»", "‘": "’", "'": "'"}
# Invisible characters some phones and mail clients put in front of a message.
_LEADING_JUNK = re.compile(r"^[\s\u200b\u200c\u200d\u2060\ufeff]+")
_NUMBER = re.compile(r"#?([0-9]+)[:.,)]?")


# --- Folding helpers ---------------------------------------------------------------------------


def _fold(word: str) -> str:
    """Upper case, accents and apostrophes removed, compatibility forms (full-width) made plain."""
    decomposed = unicodedata.normalize("NFKD", word)
    return "".join(c for c in decomposed if not unicodedata.combining(c) and c not in _APOSTROPHES).upper()


def _bare(word: str) -> str:
    """The folded word without the punctuation, quotes or emoji around it (``« Stop! »`` → ``STOP``)."""
    folded = _fold(word)
    start, end = 0, len(folded)
    while start < end and not folded[start].isalnum():
        start += 1
    while end > start and not folded[end - 1].isalnum():
        end -= 1
    return folded[start:end]


_THANKS: frozenset[str] = frozenset(
    {"MERCI", "THANKS", "THX", "TY", "OK", "OKAY", "PARFAIT", "SUPER", "GENIAL", "COOL", "NICE", "GREAT", "TOP"}
)


def is_acknowledgement(word: str) -> bool:
    """``Merci!``, ``ok``, ``👍``: a lone word that only acknowledges (thanks, a thumbs-up, an emoji)."""
    bare = _bare(word)
    return bare in _THANKS or not any(c.isalnum() for c in bare)


def _key(token: str) -> str:
    bare = _bare(token)
    if not bare and "?" in token and all(not c.isalnum() for c in token):
        return "?"  # ``?``, ``??``, ``?!``: the mentions shortcut survives the punctuation strip
    return bare


def _strip_edges(token: str) -> str:
    """The token as typed (case and accents kept) without the punctuation around it, for messages."""
    start, end = 0, len(token)
    while start < end and not token[start].isalnum():
        start += 1
    while end > start and not token[end - 1].isalnum():
        end -= 1
    return token[start:end] or token


def _is_filler(word: str) -> bool:
    bare = _bare(word)
    return not bare or bare in _FILLERS


def _content(words: Sequence[str]) -> list[str]:
    """The words that carry meaning: politeness and lone punctuation or emoji removed."""
    return [w for w in words if not _is_filler(w)]


def _first_word(s: str) -> tuple[str, str]:
    """Split ``s`` (no leading whitespace) into its first word and the raw rest (leading space kept)."""
    i = 0
    while i < len(s) and not s[i].isspace():
        i += 1
    return s[:i], s[i:]


def _args_text(rest: str) -> str:
    """Free text after a keyword or number, exactly as typed but for the whitespace around it and one
    separator (``PUBLIER : texte``, ``R 4 - merci``). A separator counts only when followed by
    whitespace, so ``-5% ce soir`` and ``:) à ce soir`` keep their first character."""
    text = rest.strip()
    if text and text[0] in _SEPARATORS and (len(text) == 1 or text[1].isspace()):
        text = text[1:].strip()
    return text


def _number(word: str) -> int | None:
    """``4``, ``#4``, ``4:`` → 4; ``0`` or a number too long to be one of ours → 0 (invalid);
    anything else → None (not a number at all)."""
    match = _NUMBER.fullmatch(_fold(word))
    if match is None:
        return None
    digits = match[1]
    if len(digits) > MAX_NUMBER_DIGITS:
        return 0
    return int(digits)


def one_edit_apart(a: str, b: str) -> bool:
    """True when ``a`` and ``b`` differ by exactly one insertion, deletion, substitution or swap of two
    adjacent letters (optimal-string-alignment Damerau-Levenshtein distance 1)."""
    if a == b or abs(len(a) - len(b)) > 1:
        return False
    if len(a) == len(b):
        diffs = [i for i, (x, y) in enumerate(zip(a, b, strict=True)) if x != y]
        if len(diffs) == 1:
            return True
        if len(diffs) != 2:
            return False
        i, j = diffs
        return j == i + 1 and a[i] == b[j] and a[j] == b[i]
    short, long = (a, b) if len(a) < len(b) else (b, a)
    i = 0
    while i < len(short) and short[i] == long[i]:
        i += 1
    return short[i:] == long[i + 1 :]


# --- Per-command argument readers --------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Ctx:
    key: str  # folded keyword (R for R4)
    lang: Lang | None
    rest: str  # raw text after the keyword, glued colon and outer closing quote removed
    glued: str | None  # digits typed against the keyword (R4, M2)
    initial: bool  # a single letter followed by a dot: ``M. Tremblay`` is a name, not a command
    typed: str  # the keyword as typed, for Suggest
    marked: bool = False  # punctuation set the keyword apart: ``pub: menu``, ``pub. menu``, ``"pub" menu``

    @property
    def words(self) -> list[str]:
        return self.rest.split()


_Reader: TypeAlias = Callable[[_Ctx], ParseResult | None]
# A reader returns None when the arguments read as prose: the message is then plain text.


def _whole(make: Callable[[Lang | None], Command]) -> _Reader:
    """A command that stands alone (give or take politeness)."""

    def read(ctx: _Ctx) -> ParseResult | None:
        if ctx.glued is None and not _content(ctx.words):
            return make(ctx.lang)
        return None

    return read


def _read_publish(ctx: _Ctx) -> ParseResult | None:
    if ctx.key == "PUB" and ctx.rest.strip() and not (ctx.typed.isupper() or ctx.marked):
        # "Pub quiz tonight", "pub ouvert": the word, not the alias. Only PUB in capitals, or set apart by
        # punctuation (pub: / pub.), publishes; the rest is free text, confirmed before anything is posted.
        return None
    text = _args_text(ctx.rest)
    when, rest = read_when(text)
    if when is not None:
        return Schedule(when, rest, keyword_lang=ctx.lang)
    return Publish(text, keyword_lang=ctx.lang)


def _read_schedule(ctx: _Ctx) -> ParseResult | None:
    """``CHAQUE lundi 11h Menu``: the keyword is part of the expression. Anything else is prose
    (``Chaque jour une soupe``, ``Every day is a good day``)."""
    when, rest = read_when(f"{ctx.key.lower()} {ctx.rest.strip()}")
    if when is None or not when.weekly:
        return None
    return Schedule(when, rest, keyword_lang=ctx.lang)


_SCHEDULED_NUMBER = re.compile(r"P#?([0-9]+)")


def _scheduled_number(words: list[str]) -> ParseResult | None:
    """``P14``, ``P 14``, ``P#14``: a scheduled post's number (None: not that shape)."""
    joined = "".join(_bare(w) if i else _fold(w).strip("#") for i, w in enumerate(words))
    match = _SCHEDULED_NUMBER.fullmatch(joined) if len(words) <= 2 else None
    if match is None:
        return None
    digits = match[1]
    if len(digits) > MAX_NUMBER_DIGITS or int(digits) == 0:
        return Invalid("ANNULER", "bad_number")
    return Unschedule(int(digits))


def _read_undo(ctx: _Ctx) -> ParseResult | None:
    words = [w for w in _content(ctx.words) if _bare(w) not in _LAST_WORDS]
    if not words:
        return Undo(None, keyword_lang=ctx.lang)
    scheduled = _scheduled_number(words)
    if isinstance(scheduled, Unschedule):
        return Unschedule(scheduled.number, keyword_lang=ctx.lang)
    if isinstance(scheduled, Invalid):
        return Invalid(ctx.key, "bad_number", keyword_lang=ctx.lang)
    number = _number(words[0])
    if number is None or len(words) > 1:
        return Invalid(ctx.key, "bad_number", keyword_lang=ctx.lang)
    if number == 0:
        return Invalid(ctx.key, "bad_number", keyword_lang=ctx.lang)
    return Undo(number, keyword_lang=ctx.lang)


def _read_delete(ctx: _Ctx) -> ParseResult | None:
    words = _content(ctx.words)
    if not words:
        return Invalid(ctx.key, "missing_number", keyword_lang=ctx.lang)
    scheduled = _scheduled_number(words)
    if isinstance(scheduled, Unschedule):
        return Unschedule(scheduled.number, keyword_lang=ctx.lang)
    number = _number(words[0])
    if number is None:
        return Invalid(ctx.key, "missing_number", keyword_lang=ctx.lang)
    if number == 0 or len(words) > 1:
        return Invalid(ctx.key, "bad_number", keyword_lang=ctx.lang)
    return Undo(number, keyword_lang=ctx.lang)


def _read_help(ctx: _Ctx) -> ParseResult | None:
    words = _content(ctx.words)
    if not words:
        return Help(keyword_lang=ctx.lang)
    if len(words) == 1:
        key = _key(words[0])
        glued = _GLUED.fullmatch(key)
        entry = _KEYWORDS.get(glued[1] if glued else key)
        if entry is not None:
            return Help(_TOPIC[entry[0]], keyword_lang=ctx.lang)
    return None  # ``Aide recherchée en cuisine``, ``Info: fermé lundi`` are posts


def _read_stop(ctx: _Ctx) -> ParseResult | None:
    words = _content(ctx.words)
    if not words:
        return Stop(keyword_lang=ctx.lang)
    if ctx.key == "CANCEL" and len(words) == 1 and (number := _number(words[0])):
        # Twilio opts out a lone CANCEL; with a number the member surely meant UNDO n.
        return Suggest(Undo(number, keyword_lang="en"), ctx.typed)
    return None


def _read_language(ctx: _Ctx) -> ParseResult | None:
    words = _content(ctx.words)
    if not words:
        return Invalid(ctx.key, "missing_language", keyword_lang=ctx.lang)
    if len(words) > 1:
        return None  # ``Langue de veau braisée ce midi``
    lang = _LANGUAGE_ARGS.get(_bare(words[0]))
    if lang is None:
        return Invalid(ctx.key, "bad_language", keyword_lang=ctx.lang)
    return Language(lang, keyword_lang=ctx.lang)


def _read_language_word(ctx: _Ctx) -> ParseResult | None:
    if _content(ctx.words):
        return None  # ``English menu available!``
    return Language(_LANGUAGE_WORDS[ctx.key], keyword_lang=ctx.lang)


def _read_pin(ctx: _Ctx) -> ParseResult | None:
    words = _content(ctx.words)
    if not words:
        return Invalid(ctx.key, "missing_pin", keyword_lang=ctx.lang)
    code = _bare(words[0])
    if len(words) > 1:
        # ``Pin de Noël en vente`` is a post; ``PIN 48 21`` is a mistyped PIN.
        return Invalid(ctx.key, "bad_pin", keyword_lang=ctx.lang) if code[:1].isdigit() else None
    if re.fullmatch(rf"[0-9]{{{PIN_MIN_DIGITS},{PIN_MAX_DIGITS}}}", code) is None:
        return Invalid(ctx.key, "bad_pin", keyword_lang=ctx.lang)
    return Pin(code, keyword_lang=ctx.lang)


def _read_reply(ctx: _Ctx) -> ParseResult | None:
    if ctx.glued is not None:
        number: int | None = _number(ctx.glued)
        after = ctx.rest
    else:
        first, after = _first_word(ctx.rest.lstrip())
        number = _number(first) if first else None
        if number is None:
            if first and ctx.initial:
                return None  # ``R. Dubé nous rend visite``
            return Invalid(ctx.key, "missing_number", keyword_lang=ctx.lang)
    if not number:
        return Invalid(ctx.key, "bad_number", keyword_lang=ctx.lang)
    text = _args_text(after)
    if not text:
        return Invalid(ctx.key, "missing_text", keyword_lang=ctx.lang)
    return Reply(number, text, keyword_lang=ctx.lang)


def _read_like(ctx: _Ctx) -> ParseResult | None:
    words = _content(ctx.words)
    if ctx.glued is not None:
        number = _number(ctx.glued)
    elif not words:
        return Invalid(ctx.key, "missing_number", keyword_lang=ctx.lang)
    else:
        number = _number(words.pop(0))
        if number is None:
            return None  # ``J'aime l'automne!``, ``Like us on Facebook``
    if not number:
        return Invalid(ctx.key, "bad_number", keyword_lang=ctx.lang)
    if words:
        return Invalid(ctx.key, "extra_text", keyword_lang=ctx.lang)
    return Like(number, keyword_lang=ctx.lang)


def _read_mentions(ctx: _Ctx) -> ParseResult | None:
    words = _content(ctx.words)
    if ctx.glued is not None:
        page = _number(ctx.glued)
    elif not words:
        return Mentions(1, keyword_lang=ctx.lang)
    else:
        page = _number(words.pop(0))
        if page is None:
            return None  # ``M. Tremblay``, ``Mentions légales``
    if words:
        return None
    if not page:
        return Invalid(ctx.key, "bad_page", keyword_lang=ctx.lang)
    return Mentions(page, keyword_lang=ctx.lang)


_TIME_SPLIT = re.compile(r"[\s,;/&+\-–—]+")
_TIME = re.compile(r"([0-9]{1,2})(?:(h|:)([0-9]{2})?)?(am|pm|a|p)?")
_TIME_CONNECTORS = frozenset({"", "et", "and", "a", "to", "puis", "then"})
_NAMED_TIMES = {"midi": time(12), "noon": time(12), "minuit": time(0), "midnight": time(0)}


def _read_time(token: str) -> time | None:
    match = _TIME.fullmatch(token)
    if match is None:
        return None
    hour, sep, minute_s, ampm = int(match[1]), match[2], match[3], match[4]
    if sep == ":" and minute_s is None:
        return None  # ``8:`` is half a time
    minute = int(minute_s) if minute_s else 0
    if minute > 59:
        return None
    if ampm:
        if not 1 <= hour <= 12:
            return None
        hour = hour % 12 + (12 if ampm.startswith("p") else 0)
    elif hour > 23:
        return None
    return time(hour, minute)


def _read_hours(ctx: _Ctx) -> ParseResult | None:
    # Lower case, accents gone (à → a), a.m. → am; then glue ``8 am`` and ``8 h`` back together.
    folded = _fold(ctx.rest).lower().replace(".", "")
    tokens: list[str] = []
    for token in (t.strip(":!?") for t in _TIME_SPLIT.split(folded)):
        if token in ("am", "pm", "h") and tokens and tokens[-1][-1:].isdigit():
            tokens[-1] += token
        elif token in _TIME_CONNECTORS or _is_filler(token):
            continue
        else:
            tokens.append(token)
    if not tokens:
        return Invalid(ctx.key, "missing_time", keyword_lang=ctx.lang)
    times: list[time] = []
    bad = False
    for token in tokens:
        at = _NAMED_TIMES.get(token) or _read_time(token)
        if at is not None:
            times.append(at)
        elif not token[:1].isdigit():
            return None  # ``Heures d'ouverture: 11h à 22h`` is a post
        else:
            bad = True
    if bad:
        return Invalid(ctx.key, "bad_time", keyword_lang=ctx.lang)
    unique = tuple(sorted(set(times)))
    if len(unique) > MAX_DIGEST_HOURS:
        return Invalid(ctx.key, "too_many_times", keyword_lang=ctx.lang)
    return Hours(unique, keyword_lang=ctx.lang)


_DURATION = re.compile(r"([0-9]{1,4})(j|jr|jrs|jour|jours|d|day|days|sem|semaine|semaines|w|wk|wks|week|weeks)?")


def _read_pause(ctx: _Ctx) -> ParseResult | None:
    words = _content(ctx.words)
    if not words:
        return Pause(DEFAULT_PAUSE_DAYS, keyword_lang=ctx.lang)
    if len(words) > 2 or not _bare(words[0])[:1].isdigit():
        return None  # ``Pause estivale: fermé du 1er au 15 juillet``
    match = _DURATION.fullmatch("".join(_bare(w) for w in words).lower())
    if match is None:
        return Invalid(ctx.key, "bad_duration", keyword_lang=ctx.lang)
    days = int(match[1]) * (7 if (match[2] or "d")[0] in "sw" else 1)
    if not 1 <= days <= MAX_PAUSE_DAYS:
        return Invalid(ctx.key, "bad_duration", keyword_lang=ctx.lang)
    return Pause(days, keyword_lang=ctx.lang)


def _read_alerts(ctx: _Ctx) -> ParseResult | None:
    words = _content(ctx.words)
    if not words:
        return Invalid(ctx.key, "missing_value", keyword_lang=ctx.lang)
    if len(words) > 1:
        return None  # ``Alerte météo: fermé ce soir``
    value = _bare(words[0])
    if value in _ON_WORDS:
        return Alerts(True, keyword_lang=ctx.lang)
    if value in _OFF_WORDS:
        return Alerts(False, keyword_lang=ctx.lang)
    return Invalid(ctx.key, "bad_value", keyword_lang=ctx.lang)


_READERS: dict[_Kind, _Reader] = {
    "publish": _read_publish,
    "undo": _read_undo,
    "delete": _read_delete,
    "status": _whole(lambda lang: Status(keyword_lang=lang)),
    "help": _read_help,
    "stop": _read_stop,
    "start": _whole(lambda lang: Start(keyword_lang=lang)),
    "language": _read_language,
    "language_word": _read_language_word,
    "yes": _whole(lambda lang: Confirm(True, keyword_lang=lang)),
    "no": _whole(lambda lang: Confirm(False, keyword_lang=lang)),
    "pin": _read_pin,
    "reply": _read_reply,
    "like": _read_like,
    "mentions": _read_mentions,
    "hours": _read_hours,
    "pause": _read_pause,
    "resume": _whole(lambda lang: Resume(keyword_lang=lang)),
    "alerts": _read_alerts,
    "schedule": _read_schedule,
    "scheduled": _whole(lambda lang: Scheduled(keyword_lang=lang)),
}


# --- Entry points ------------------------------------------------------------------------------


def _outer_quote_removed(opening: str, rest: str) -> str:
    """``"PUBLIER Menu du jour"`` quotes the whole command: drop the closing quote from the text too.
    Only when that closing quote appears once, so quotes inside the text are kept."""
    close = _QUOTE_PAIRS[opening]
    trimmed = rest.rstrip()
    if trimmed.endswith(close) and trimmed.count(close) == 1:
        return trimmed[:-1]
    return rest


def _suggest(key: str, ctx: _Ctx) -> Suggest | None:
    if len(key) < _FUZZY_MIN_LEN or not (key.isascii() and key.isalpha()) or key in _NOT_TYPOS:
        return None
    matches = [k for k in _FUZZY_TARGETS if one_edit_apart(key, k)]
    if len({_KEYWORDS[k][0] for k in matches}) != 1:
        return None  # no neighbour, or two commands equally close: guessing would be a coin toss
    keyword = matches[0]
    kind, lang = _KEYWORDS[keyword]
    result = _READERS[kind](_Ctx(keyword, lang, ctx.rest, None, False, ctx.typed))
    # Only suggest a command the arguments make complete; ``Heure du lunch`` stays text.
    if result is None or isinstance(result, (Suggest, Unknown, LoneWord, Invalid, Empty, TooLong)):
        return None
    return Suggest(result, ctx.typed)


def parse(text: str) -> ParseResult:
    """Read one message. Pure and total: never raises, never looks anything up."""
    message = _LEADING_JUNK.sub("", text).rstrip()
    if len(message) > MAX_TEXT:
        return TooLong(len(message))
    if not message:
        return Empty()
    body = message
    opening = ""
    if body[0] in _QUOTE_PAIRS:
        opening, body = body[0], body[1:].lstrip()
    token, rest = _first_word(body)
    marked = bool(opening)
    if ":" in token:
        # ``PUBLIER:texte``: the colon ends the keyword even without a space after it.
        token, _, glued_rest = token.partition(":")
        rest = glued_rest + rest
        marked = True
    if opening:
        rest = _outer_quote_removed(opening, rest)
    key = _key(token)
    glued: str | None = None
    entry = _KEYWORDS.get(key)
    if entry is None and (match := _GLUED.fullmatch(key)):
        key, glued = match[1], match[2]
        entry = _KEYWORDS[key]
    typed = _strip_edges(token)
    initial = len(key) == 1 and key.isalpha() and _fold(token).rstrip().endswith(".")
    marked = marked or typed != token.strip()
    ctx = _Ctx(key, entry[1] if entry else None, rest, glued, initial, typed, marked)
    if entry is not None:
        result = _READERS[entry[0]](ctx)
        if result is not None:
            return result
    elif suggestion := _suggest(key, ctx):
        return suggestion
    if len(message.split(maxsplit=1)) == 1:
        return LoneWord(message)
    return Unknown(message)


def parse_email_reply_lines(text: str) -> list[Reply]:
    """Answers to a digest by email: one per line, as ``4: merci!``, ``#4 merci`` or ``R 4 merci!``
    (any reply keyword). Quoted lines (``>``) are never read, and a line that is not an answer is
    skipped, so ``12:30 on ferme`` or a greeting is never sent anywhere. The text of each answer is the
    rest of its line, exactly as written."""
    replies: list[Reply] = []
    for raw in text.splitlines():
        line = _LEADING_JUNK.sub("", raw).rstrip()
        if not line or line.startswith(">"):
            continue
        # ``4: merci``: a colon not followed by a digit, so times (``12:30``) are not answers.
        match = re.fullmatch(r"#?\s?([0-9]+)\s*:(?![0-9])(.*)", line, flags=re.DOTALL)
        if match is None:
            # ``#4 merci``, ``#4 - merci``: the hash makes a bare space enough.
            match = re.fullmatch(r"#\s?([0-9]+)[.,)\-–—]?(\s.*)", line, flags=re.DOTALL)
        if match is not None:
            number = _number(match[1])
            reply_text = _args_text(match[2])
            if number and reply_text:
                replies.append(Reply(number, reply_text))
            continue
        parsed = parse(line)
        if isinstance(parsed, Reply):
            replies.append(parsed)
    return replies
