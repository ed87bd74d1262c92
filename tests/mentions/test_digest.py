"""SMS digests of mentions: segment budget counted exactly, GSM-7 only, priority, pages, replies.

The table below is the digest benchmark too (issue 5): ``test_digest_benchmark`` prints the average segments
and items per digest over it, against forwarding each item as its own SMS.

The expected order is computed here from hand-written flags (``q=True`` marks a question), not from
``priority``, so the table checks the question detection as well as the sort.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.kit.sms_text import Encoding, is_gsm7, segment_info
from app.mentions.digest import (
    AUTHOR_MAX,
    MIN_GIST,
    MIN_GIST_QUESTION,
    Digest,
    DigestItem,
    Kind,
    Lang,
    compose_sms_digest,
    cost_as_is,
    is_complaint,
    is_question,
    priority,
)

NOW = datetime(2026, 11, 26, 17, 0, tzinfo=UTC)
FAST = settings(max_examples=200, deadline=None)
LABELS = {"bluesky": "Bsky", "mastodon": "Masto", "facebook": "FB", "instagram": "IG", "google": "Google", "x": "X"}
HINT = {"fr": "Répondre: R {} texte", "en": "Reply: R {} text"}


@dataclass(frozen=True)
class Spec:
    """One table item plus the hand-written truth the test checks against (``q``: it is a question)."""

    item: DigestItem
    q: bool


def m(
    number: int,
    network: str,
    text: str,
    *,
    kind: Kind = "mention",
    author: str = "client",
    rating: int | None = None,
    ago: int = 0,
    to_us: bool = False,
    q: bool = False,
) -> Spec:
    """A mention ``ago`` minutes old."""
    item = DigestItem(number, network, kind, author, text, rating, NOW - timedelta(minutes=ago), to_us)
    return Spec(item, q)


def review(number: int, text: str, rating: int, *, ago: int = 0, author: str = "Client G.", q: bool = False) -> Spec:
    return m(number, "google", text, kind="review", author=author, rating=rating, ago=ago, q=q)


def expected_order(specs: Sequence[Spec]) -> list[int]:
    """Questions, reviews <= 3 stars, replies to our posts, the rest; newest first, then the higher number."""

    def rank(spec: Spec) -> int:
        item = spec.item
        if spec.q:
            return 0
        if item.kind == "review" and item.rating is not None and item.rating <= 3:
            return 1
        # Complaints (checked on their own against a hand-written table in test_complaints_are_detected)
        if (item.rating is None or item.rating <= 3) and is_complaint(item.text):
            return 1
        return 2 if item.is_reply_to_us else 3

    ordered = sorted(specs, key=lambda s: (rank(s), NOW - s.item.created_at, -s.item.number))
    return [s.item.number for s in ordered]


LONG_FR = (
    "Nous sommes allés à l’Ardoise samedi soir avec toute la famille pour l’anniversaire de ma mère. "
    "L’accueil était chaleureux, la soupe à l’oignon gratinée parfaite et le pouding chômeur… divin! "
    "Seul bémol: l’attente pour la table, près de 40 minutes malgré la réservation. On reviendra quand même 😊"
)
LONG_EN = (
    "We stopped by on our way to Gatineau and honestly it was the best poutine we have had in years. "
    "The staff were friendly, the place was clean and the prices were fair. Parking was a bit tricky "
    "on a Saturday but totally worth it. Highly recommend to anyone driving through!"
)
CURLY = "C’était « vraiment » bon, merci à l’équipe! L’an prochain on revient — promis…"
EMOJI = "Trop bon 😍😍🔥🥞 merci!!! 👍👍 🇨🇦"
ZWJ = "La famille 👨‍👩‍👧‍👦 a adoré ❤️ les crêpes"

SHORT_FR = [
    "merci!",
    "Super soirée, bravo à l’équipe",
    "Meilleure tourtière en ville 🥧",
    "J’ai adoré le brunch ce matin",
    "Le café est excellent ☕",
    "Belle terrasse, on reviendra",
    "Bon service, prix corrects",
    "Wow, la vue est magnifique",
    "Personnel très sympathique",
    "C’était parfait 👌",
]
QUESTIONS_FR = [
    "Êtes-vous ouverts le dimanche?",
    "Je suis censé d’aller à l’Ardoise, c’est comment?",
    "Combien pour un gâteau de fête pour 12 personnes",
    "Avez-vous des options véganes",
    "Où est-ce qu’on peut se stationner près du resto",
    "Est-ce que vous livrez à Gatineau",
    "Quelle heure fermez-vous ce soir",
    "Pourquoi la cuisine était fermée à 20 h",
    "Quand commence le menu des fêtes",
    "Faites-vous des soupers de groupe",
    "Comment réserver pour samedi",
    "Ou se trouve l'entrée?",
]
QUESTIONS_EN = [
    "Are you open on Sundays?",
    "How late is the kitchen open tonight",
    "Do you take reservations for 10 people",
    "Where can I park",
    "What time do you close on holidays",
    "Is it wheelchair accessible",
    "Can I bring my dog on the patio",
    "When does the winter menu start",
]


def many(count: int, *, start: int = 1, network: str = "bluesky", text: str = LONG_FR) -> list[Spec]:
    return [m(start + i, network, text, author=f"fan{start + i}.bsky.social", ago=i * 7) for i in range(count)]


CASES: list[tuple[str, list[Spec]]] = [
    (
        "issue-example",
        [
            m(4, "bluesky", "c'est comment l'Ardoise?", author="cliente1", ago=5, q=True),
            review(5, "service lent", 2, ago=10),
            m(6, "facebook", "merci!", kind="comment", author="client2", ago=20),
        ],
    ),
    ("one-mention", [m(1, "bluesky", "Merci pour la belle soirée!", author="@ginette.bsky.social")]),
    ("one-question-fr", [m(2, "mastodon", QUESTIONS_FR[0], author="@luc@mastodon.social", q=True)]),
    ("one-question-en", [m(3, "x", QUESTIONS_EN[0], author="@traveller_ottawa", q=True)]),
    ("one-review-5", [review(7, "Excellent! La meilleure poutine de l’Outaouais 🍟", 5)]),
    ("one-review-1-long", [review(8, LONG_FR, 1)]),
    ("one-review-no-text", [review(9, "", 4)]),
    ("one-long-fr", [m(10, "facebook", LONG_FR, kind="comment", author="Marie-Ève Tremblay-Bouchard")]),
    ("one-long-en", [m(11, "instagram", LONG_EN, kind="comment", author="road.trip.qc")]),
    ("curly-and-guillemets", [m(12, "bluesky", CURLY, author="cliente.bsky.social", ago=3), m(13, "x", CURLY, ago=4)]),
    ("emoji-only", [m(14, "instagram", "😍🔥🥞", kind="comment", author="foodie"), m(15, "bluesky", "👍", ago=1)]),
    ("emoji-mixed", [m(16, "instagram", EMOJI, kind="comment"), m(17, "facebook", ZWJ, kind="comment", ago=2)]),
    (
        "links-and-handles",
        [
            m(18, "mastodon", "@ardoise@mastodon.social regardez ça https://exemple.ca/photos/123?x=1.", ago=1),
            m(19, "bluesky", "Vu sur www.ledroit.com/article: bravo @ardoise.bsky.social et @chef.luc!", ago=2),
        ],
    ),
    (
        "questions-fr-mixed",
        [
            m(20, "facebook", SHORT_FR[0], kind="comment", ago=1),
            m(21, "bluesky", QUESTIONS_FR[1], ago=30, q=True),
            m(22, "mastodon", SHORT_FR[1], ago=2),
            m(23, "instagram", QUESTIONS_FR[2], kind="comment", ago=40, q=True),
        ],
    ),
    (
        "questions-en-mixed",
        [
            m(24, "x", "Great brunch this morning", ago=1),
            m(25, "bluesky", QUESTIONS_EN[1], ago=50, q=True),
            m(26, "facebook", QUESTIONS_EN[2], kind="comment", ago=5, q=True),
            m(27, "instagram", "What a view! Loved it", kind="comment", ago=3),
        ],
    ),
    (
        "reviews-mixed",
        [
            review(28, "Parfait", 5, ago=1),
            review(29, "Froid et trop cher", 1, ago=60),
            review(30, "Correct sans plus", 3, ago=30),
            review(31, "Très bien", 4, ago=2),
            review(32, "Pourquoi si long?", 2, ago=90, q=True),
        ],
    ),
    (
        "replies-to-us",
        [
            m(33, "bluesky", "Hâte d’essayer!", kind="reply", ago=1, to_us=True),
            m(34, "mastodon", "Bravo", ago=2),
            m(35, "facebook", "On y sera samedi", kind="comment", ago=3, to_us=True),
            m(36, "bluesky", "Je partage", kind="quote", ago=0),
        ],
    ),
    (
        "all-classes",
        [
            m(37, "x", "Belle place", ago=0),
            m(38, "bluesky", "Super nouvelle!", kind="reply", ago=1, to_us=True),
            review(39, "Service lent, plats tièdes", 2, ago=2),
            m(40, "mastodon", "Avez-vous des places pour ce soir", ago=3, q=True),
            review(41, "Génial", 5, ago=4),
        ],
    ),
    ("twenty-long-fr", many(20)),
    ("twenty-long-en", many(20, start=100, network="mastodon", text=LONG_EN)),
    (
        "twenty-short",
        [
            m(200 + i, ["bluesky", "facebook", "instagram", "mastodon", "x"][i % 5], SHORT_FR[i % 10], ago=i)
            for i in range(20)
        ],
    ),
    (
        "twenty-questions",
        [m(300 + i, "bluesky", (QUESTIONS_FR + QUESTIONS_EN)[i], ago=i * 3, q=True) for i in range(20)],
    ),
    (
        "twenty-reviews",
        [review(400 + i, SHORT_FR[i % 10] if i % 2 else LONG_FR, 1 + i % 5, ago=i * 11) for i in range(20)],
    ),
    (
        "twelve-mixed",
        [
            *[m(500 + i, "facebook", SHORT_FR[i], kind="comment", ago=i) for i in range(4)],
            *[m(510 + i, "bluesky", QUESTIONS_FR[i + 3], ago=i + 10, q=True) for i in range(3)],
            *[review(520 + i, LONG_FR, 2 + i, ago=i + 20) for i in range(3)],
            *[m(530 + i, "mastodon", LONG_EN, kind="reply", ago=i + 30, to_us=True) for i in range(2)],
        ],
    ),
    ("same-time-ties", [m(600 + i, "bluesky", SHORT_FR[i], ago=5) for i in range(6)]),
    (
        "extension-chars",
        [
            m(610, "facebook", "Menu à 25€ [table d'hôte] {vin inclus} ~ 3 services | taxes en sus ^^", ago=1),
            m(611, "x", "€€€€€€€€€€€€€€€€€€€€€€€€€€€€€€€€€€€€€€€€€€€€€€€€€€€€€€€€€€€€€€€€€€€€€€€€€€€€€€", ago=2),
            m(612, "bluesky", "\\o/ [[[ ]]] {{{ }}} |||", ago=3),
        ],
    ),
    (
        "extension-heavy-many",
        [m(620 + i, "mastodon", "Prix: 10€ [spécial] {midi} | 15€ [soir] ~ ^_^ " * 3, ago=i) for i in range(12)],
    ),
    (
        "whitespace-and-newlines",
        [m(630, "facebook", "  Bonjour\n\n\ttout   le\u00a0monde\u202f!\r\nÀ bientôt  ", kind="comment")],
    ),
    (
        "long-authors",
        [
            m(640, "bluesky", "merci", author="une.tres.longue.poignee.de.quebec.bsky.social"),
            m(641, "mastodon", "bravo", author="@quelquun_de_tres_loquace@mastodon.quebec", ago=1),
            m(642, "facebook", "super", author="Marie-Ève Gélinas-Côté-Lévesque", ago=2),
        ],
    ),
    ("empty-author", [m(650, "instagram", "Trop beau", author="", kind="comment")]),
    ("unknown-network", [m(660, "linkedin", "Belle initiative", author="Paul"), m(661, "threads", "Oui!", ago=1)]),
    ("big-numbers", [m(999_990 + i, "bluesky", LONG_FR, ago=i) for i in range(8)]),
    (
        "accents-all-over",
        [
            m(670, "facebook", "Ça goûtait le Noël d’antan: tourtière, ragoût, bûche, crème brûlée… ÔÛÎÊ œuf", ago=1),
            m(671, "bluesky", "Ÿ À È Ù Ê Ë Î Ï Ô Û Ç ç ë ï ü ÿ æ œ Œ", ago=2),
        ],
    ),
    ("question-words-no-mark", [m(680 + i, "x", t, ago=i, q=True) for i, t in enumerate(QUESTIONS_FR[2:8])]),
    (
        "exclamations-not-questions",
        [
            m(690, "instagram", "Quelle belle soirée!", kind="comment", ago=0),
            m(691, "x", "What a place! Loved it", ago=1),
            m(692, "bluesky", "How nice! Merci", ago=2),
            m(693, "mastodon", "Rendez-vous samedi au marché", ago=3),
            m(694, "facebook", "Où est la salle de bain", kind="comment", ago=10, q=True),
        ],
    ),
    (
        "english-only",
        [
            m(700, "x", LONG_EN, ago=1),
            m(701, "bluesky", QUESTIONS_EN[4], ago=2, q=True),
            review(702, "Meh. Cold fries and slow service.", 2, ago=3),
            m(703, "facebook", "Thanks for the warm welcome", kind="comment", ago=4, to_us=True),
        ],
    ),
    (
        "question-mark-emoji",
        [m(710, "instagram", "Ouvert demain ❓", kind="comment", q=True), m(711, "x", "merci", ago=1)],
    ),
    ("all-empty-texts", [m(720 + i, "bluesky", "", ago=i) for i in range(5)]),
    ("one-char-texts", [m(730 + i, "mastodon", "?!.,"[i % 4], ago=i, q=(i % 4 == 0)) for i in range(15)]),
    ("reviews-5-only", [review(740 + i, LONG_EN if i % 2 else CURLY, 5, ago=i) for i in range(7)]),
    (
        "old-and-new",
        [
            m(750, "bluesky", "Encore merci", ago=6 * 24 * 60),
            m(751, "bluesky", "Merci à vous", ago=1),
            m(752, "bluesky", "Vous êtes où exactement?", ago=3 * 24 * 60, q=True),
        ],
    ),
    ("forty-items", many(40, start=800)),
    (
        "quotes-and-replies",
        [
            m(
                860 + i,
                "bluesky",
                CURLY if i % 2 else EMOJI,
                kind="quote" if i % 2 else "reply",
                ago=i,
                to_us=i % 2 == 0,
            )
            for i in range(9)
        ],
    ),
    (
        "gist-exactly-min",
        [m(870 + i, "x", "a" * (MIN_GIST - 1 + i % 3), ago=i) for i in range(10)],
    ),
]


def cases() -> list[pytest.ParameterSet]:
    return [pytest.param(specs, id=name) for name, specs in CASES]


def all_pages(items: Sequence[DigestItem], lang: Lang, budget: int) -> list[Digest]:
    pages: list[Digest] = []
    for page in range(1, len(items) + 2):
        digest = compose_sms_digest(items, lang, budget_segments=budget, page=page)
        if not digest.text:
            break
        pages.append(digest)
    return pages


def check_page(digest: Digest, page: int, total: int, seen: int, lang: Lang, budget: int) -> None:
    """Everything a single page must satisfy; ``seen`` is how many items earlier pages showed."""
    info = segment_info(digest.text)
    assert is_gsm7(digest.text), digest.text
    assert info.encoding is Encoding.GSM7
    assert info.segments <= budget, (info, digest.text)
    assert digest.segments == info.segments
    assert digest.encoding is Encoding.GSM7
    assert digest.shown, "a page shows at least one item"
    assert digest.remaining == total - seen - len(digest.shown)
    lines = digest.text.split("\n")
    word = "mention" if total == 1 else "mentions"
    assert lines[0] == (f"{total} {word}:" if page == 1 else f"{total} {word} p{page}:")
    for line, number in zip(lines[1:], digest.shown, strict=False):
        assert line.startswith(f"#{number} ") or line == f"#{number}", line
    assert len(lines) == 1 + len(digest.shown) + (1 if digest.remaining else 0) + 1
    if digest.remaining:
        assert lines[-2] == f"+{digest.remaining}: M{page + 1}"
    assert lines[-1] == HINT[lang].format(digest.shown[0])


@pytest.mark.parametrize("budget", [1, 2, 3])
@pytest.mark.parametrize("lang", ["fr", "en"])
@pytest.mark.parametrize("specs", cases())
def test_digest_table(specs: list[Spec], lang: Lang, budget: int) -> None:
    items = [s.item for s in specs]
    pages = all_pages(items, lang, budget)
    seen = 0
    for page, digest in enumerate(pages, start=1):
        check_page(digest, page, len(items), seen, lang, budget)
        seen += len(digest.shown)
    shown = [n for d in pages for n in d.shown]
    assert shown == expected_order(specs)
    assert pages[-1].remaining == 0
    after = compose_sms_digest(items, lang, budget_segments=budget, page=len(pages) + 1)
    assert after == Digest(text="", shown=[], remaining=0, segments=0)


@pytest.mark.parametrize("specs", cases())
def test_item_lines_show_network_and_author_or_rating(specs: list[Spec]) -> None:
    by_number = {s.item.number: s.item for s in specs}
    for digest in all_pages(list(by_number.values()), "fr", 2):
        for line, number in zip(digest.text.split("\n")[1:], digest.shown, strict=False):
            item = by_number[number]
            label = LABELS.get(item.network, item.network.capitalize())
            assert line.startswith(f"#{number} {label}")
            if item.kind == "review" and item.rating is not None:
                assert line.startswith(f"#{number} {label} {item.rating}*")


@pytest.mark.parametrize("specs", cases())
def test_gists_are_whole_or_end_with_ellipsis(specs: list[Spec]) -> None:
    """A cut gist says so; a shown gist is never shorter than the minimum unless the text is."""
    items = [s.item for s in specs]
    for digest in all_pages(items, "fr", 2):
        for line in digest.text.split("\n")[1 : 1 + len(digest.shown)]:
            _, _, gist = line.partition(": ")
            if gist.endswith("..."):
                # Cut back at most to a nearby word boundary from MIN_GIST septets.
                assert len(gist) >= MIN_GIST - 12, line


def test_issue_example_fr() -> None:
    items = [s.item for s in CASES[0][1]]
    digest = compose_sms_digest(items, "fr")
    assert digest.text == (
        "3 mentions:\n"
        "#4 Bsky cliente1: c'est comment l'Ardoise?\n"
        "#5 Google 2*: service lent\n"
        "#6 FB client2: merci!\n"
        "Répondre: R 4 texte"
    )
    assert digest == Digest(text=digest.text, shown=[4, 5, 6], remaining=0, segments=1)


def test_issue_example_en() -> None:
    digest = compose_sms_digest([s.item for s in CASES[0][1]], "en")
    assert digest.text.endswith("#6 FB client2: merci!\nReply: R 4 text")
    assert digest.text.startswith("3 mentions:\n#4 Bsky cliente1: ")


def test_single_item_header_is_singular_and_shows_whole_text() -> None:
    item = m(1, "bluesky", "Merci pour la belle soirée!", author="@ginette.bsky.social").item
    assert compose_sms_digest([item], "fr").text == (
        "1 mention:\n#1 Bsky ginette: Merci pour la belle soirée!\nRépondre: R 1 texte"
    )


def test_page_two_continues_after_page_one() -> None:
    items = [s.item for s in many(20)]
    first = compose_sms_digest(items, "fr", budget_segments=1)
    second = compose_sms_digest(items, "fr", budget_segments=1, page=2)
    assert first.shown == [1, 2, 3]
    assert first.text.split("\n")[-2:] == ["+17: M2", "Répondre: R 1 texte"]
    assert second.shown[0] == 4
    assert second.text.startswith("20 mentions p2:\n#4 Bsky fan4: ")
    assert second.remaining == 17 - len(second.shown)
    # Same items, same pages, whatever order they come in.
    assert compose_sms_digest(items[::-1], "fr", budget_segments=1, page=2) == second


def test_budget_is_filled_but_never_exceeded() -> None:
    item = m(1, "facebook", LONG_FR + " " + LONG_FR, kind="comment", author="Marie").item
    for budget in (1, 2, 3, 4):
        digest = compose_sms_digest([item], "fr", budget_segments=budget)
        info = segment_info(digest.text)
        capacity = 160 if budget == 1 else 153 * budget
        assert info.segments == budget
        assert capacity - 12 <= info.units <= capacity, (budget, info)
        assert "..." in digest.text


def test_the_room_left_is_shared_fairly() -> None:
    """No line gets 150 characters while another keeps two words: the gists of long items end within a couple of
    words of each other in length (the next word of the shorter ones no longer fit)."""
    items = [
        m(1, "bluesky", QUESTIONS_FR[1] + " " + LONG_FR, q=True).item,
        m(2, "bluesky", LONG_FR, ago=1).item,
        m(3, "bluesky", LONG_EN, ago=2).item,
    ]
    lines = compose_sms_digest(items, "fr", budget_segments=2).text.split("\n")[1:4]
    gists = [line.partition(": ")[2] for line in lines]
    assert all(g.endswith("...") for g in gists[1:])
    assert max(map(len, gists)) - min(map(len, gists)) <= 20, gists


def test_questions_get_a_readable_floor_before_more_items_are_added() -> None:
    """Short questions are shown whole or at least to their floor, and the room left still carries more items."""
    specs = dict(CASES)["twelve-mixed"]
    digest = compose_sms_digest([s.item for s in specs], "fr", budget_segments=2)
    lines = digest.text.split("\n")
    assert lines[1:4] == [
        "#510 Bsky client: Avez-vous des options véganes",
        "#511 Bsky client: Où on peut se stationner près...",
        "#512 Bsky client: Vous livrez à Gatineau",
    ]
    assert len(digest.shown) >= 5  # and the remaining room still carries more items


def test_long_question_is_cut_no_shorter_than_its_floor() -> None:
    text = "Bonjour, est-ce que vous faites des boites à lunch pour les groupes scolaires, et à quel prix?"
    items = [m(1, "bluesky", text, q=True).item, *[s.item for s in many(10, start=2)]]
    line = compose_sms_digest(items, "fr", budget_segments=1).text.split("\n")[1]
    gist = line.partition(": ")[2]
    assert gist.endswith("...")
    assert MIN_GIST_QUESTION - 12 <= len(gist) <= MIN_GIST_QUESTION + 40


@pytest.mark.parametrize(
    ("text", "gist"),
    [
        pytest.param("voir https://exemple.ca/a?b=1.", "voir lien.", id="url-keeps-final-dot"),
        pytest.param("(www.ledroit.com/x) top", "(lien) top", id="www-url-in-parens"),
        pytest.param("merci @ginette.bsky.social!", "merci @ginette!", id="bluesky-handle"),
        pytest.param("@luc@mastodon.social bravo", "Bravo", id="leading-handle-only-addresses"),
        pytest.param("@lardoise @luc bravo à vous", "Bravo à vous", id="leading-handles-go"),
        pytest.param("bravo @luc@mastodon.social et merci", "bravo @luc et merci", id="mastodon-handle"),
        pytest.param(
            "Bonjour! Petite question: vous ouvrez à quelle heure?", "Vous ouvrez à quelle heure?", id="greeting"
        ),
        pytest.param(
            "Super soirée hier. Est-ce que vous serez ouverts le 26?",
            "Vous serez ouverts le 26?",
            id="question-starts-at-its-question",
        ),
        pytest.param("écrivez à info@ardoise.ca", "écrivez à info@ardoise.ca", id="email-address-kept"),
        pytest.param("  a \n\n b\tc\u00a0d  ", "a b c d", id="whitespace-collapsed"),
        pytest.param("« Génial » 😊 l’équipe…", '"Génial" :) l\'équipe...', id="guillemets-emoji-apostrophe"),
        pytest.param("crêpes, maïs, œufs, garçon", "crepes, mais, oeufs, garcon", id="accents-outside-gsm"),
        pytest.param("🦄", "", id="dropped-emoji-leaves-no-gist"),
    ],
)
def test_gist_cleanup(text: str, gist: str) -> None:
    digest = compose_sms_digest([m(3, "x", text, author="a").item], "fr")
    line = digest.text.split("\n")[1]
    assert line == (f"#3 X a: {gist}" if gist else "#3 X a")


def test_url_becomes_link_in_english() -> None:
    assert "#3 X a: see link" in compose_sms_digest([m(3, "x", "see https://t.co/x", author="a").item], "en").text


@pytest.mark.parametrize(
    ("author", "shown"),
    [
        ("@cliente1.bsky.social", "cliente1"),
        ("ginette.ca", "ginette"),
        ("@fan31479098.bsky.social", "fan"),
        ("Nathalie Dubois-Charbonneau", "Nathalie D."),
        ("Chambre de commerce de Gatineau", "Chambre G."),
        ("@luc@mastodon.social", "luc"),
        ("Marie-Ève Gélinas-Côté", "Marie-Eve G."),
        ("  Jean   Tremblay ", "Jean T."),
        ("Jean Roy", "Jean Roy"),
        ("Françoise", "Francoise"),
        ("🦄", ""),
    ],
)
def test_author_is_short_and_gsm7(author: str, shown: str) -> None:
    line = compose_sms_digest([m(1, "bluesky", "ok", author=author).item], "fr").text.split("\n")[1]
    assert line == (f"#1 Bsky {shown}: ok" if shown else "#1 Bsky: ok")
    assert len(shown) <= AUTHOR_MAX


@pytest.mark.parametrize(
    "text",
    [
        *QUESTIONS_FR,
        *QUESTIONS_EN,
        "c'est quoi le spécial du jour",
        "À quelle heure ouvrez-vous",
        "Y a-t-il du stationnement",
        "Peut-on apporter notre vin",
        "Est ce que c'est ouvert",
        "Qu’est-ce qui est bon ici",
        "  « Quand ouvrez-vous »",
        "Does the patio open in May",
        "Is there a kids menu",
        "Could you hold a table",
        "C'est ouvert demain ?",
    ],
)
def test_questions_are_detected(text: str) -> None:
    assert is_question(text)


@pytest.mark.parametrize(
    "text",
    [
        "Merci beaucoup",
        "Quelle belle soirée!",
        "What a place! Loved it",
        "Rendez-vous samedi",
        "Oui, on y sera",
        "Commentaire: super",
        "Whenever you want",
        "Would recommend",
        "Quiche excellente",
        "Le menu: https://ardoise.ca/menu?lang=fr",
        "",
    ],
)
def test_non_questions_are_not_questions(text: str) -> None:
    assert not is_question(text)


@pytest.mark.parametrize(
    ("text", "complaint"),
    [
        ("Les frites étaient froides et la serveuse pas très aimable", True),
        ("Attendu 50 minutes, très déçu", True),
        ("J’ai trouvé un cheveu dans ma soupe, inacceptable", True),
        ("Beaucoup trop bruyant et l’addition salée", True),
        ("Our fries were cold and the waiter was rude", True),
        ("Waited an hour. Never again.", True),
        ("Found a hair in my soup", True),
        ("Super soirée, bravo à l’équipe", False),
        ("Merci pour le gâteau, les enfants ont adoré", False),
        ("Best poutine in town!", False),
        ("Can't wait to come back", False),
        ("Félicitations pour vos 10 ans!", False),
    ],
)
def test_complaints_are_detected(text: str, complaint: bool) -> None:
    assert is_complaint(text) is complaint


def test_a_complaint_ranks_with_low_reviews_before_praise() -> None:
    items = [
        m(1, "facebook", "Super soirée, bravo à l’équipe", kind="comment", ago=1).item,
        m(2, "facebook", "Les frites étaient froides ce soir, dommage", kind="comment", ago=30).item,
        review(3, "Très bien", 5, ago=2).item,
    ]
    assert [i.number for i in sorted(items, key=priority)] == [2, 1, 3]


def test_priority_classes_then_newest_first() -> None:
    specs = CASES[17][1]  # all-classes
    assert CASES[17][0] == "all-classes"
    ordered = sorted((s.item for s in specs), key=priority)
    assert [i.number for i in ordered] == [40, 39, 38, 37, 41]


def test_empty_list_gives_empty_digest() -> None:
    assert compose_sms_digest([], "fr") == Digest(text="", shown=[], remaining=0, segments=0)
    assert compose_sms_digest([], "en", page=3) == Digest(text="", shown=[], remaining=0, segments=0)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        pytest.param({"budget_segments": 0}, "budget_segments", id="budget-0"),
        pytest.param({"page": 0}, "page", id="page-0"),
    ],
)
def test_bad_arguments_are_refused(kwargs: dict[str, int], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        compose_sms_digest(
            [m(1, "x", "a").item],
            "fr",
            budget_segments=kwargs.get("budget_segments", 2),
            page=kwargs.get("page", 1),
        )


def test_duplicate_numbers_are_refused() -> None:
    with pytest.raises(ValueError, match="unique"):
        compose_sms_digest([m(1, "x", "a").item, m(1, "bluesky", "b").item], "fr")


# --- Cost ------------------------------------------------------------------------------------------------------


def test_cost_as_is_counts_each_item_as_its_own_sms() -> None:
    assert cost_as_is([]) == 0
    assert cost_as_is([m(4, "bluesky", "merci!", author="a").item]) == 1  # GSM-7, 1 segment
    assert cost_as_is([m(4, "bluesky", "merci 🙂", author="a").item]) == 1  # UCS-2 but short
    assert cost_as_is([m(4, "bluesky", LONG_FR, author="a").item]) == 5  # UCS-2: ~340 units / 67
    assert cost_as_is([m(i, "x", "ok", author="a").item for i in range(7)]) == 7


def test_digest_benchmark() -> None:
    """Digest quality over the table (issue 5 benchmark): printed for docs/performance.md, asserted loosely."""
    page_one_segments = page_one_items = page_one_as_is = all_segments = as_is = items_total = 0
    for _, specs in CASES:
        items = [s.item for s in specs]
        pages = all_pages(items, "fr", 2)
        page_one_segments += pages[0].segments
        page_one_items += len(pages[0].shown)
        page_one_as_is += cost_as_is([i for i in items if i.number in pages[0].shown])
        all_segments += sum(p.segments for p in pages)
        as_is += cost_as_is(items)
        items_total += len(items)
    n = len(CASES)
    print(  # noqa: T201
        f"\ndigest benchmark over {n} sets, {items_total} items, budget 2 segments:"
        f"\n  page 1: {page_one_segments / n:.2f} segments/digest, {page_one_items / n:.2f} items/digest"
        f" (the same items as-is: {page_one_as_is / n:.2f} segments)"
        f"\n  every item by digest pages: {all_segments} segments ({all_segments / items_total:.2f}/item)"
        f"\n  every item as its own SMS as-is: {as_is} segments ({as_is / items_total:.2f}/item)"
        f"\n  ratio as-is/digest: {as_is / all_segments:.2f}"
    )
    assert page_one_segments <= 2 * n
    assert page_one_segments < page_one_as_is
    assert all_segments < as_is


# --- Property --------------------------------------------------------------------------------------------------

_ALPHABET = st.sampled_from(
    [
        *"abcdefghijklmnopqrstuvwxyz ABCDEFXYZ0123456789.,!?'\"-:;@#/\n\téèàùÉÇêçôîœÀ«»’“”…€[]{}|~^\\\u00a0\u202f",
        "😀",
        "❤️",
        "👍🏽",
        "🇨🇦",
        "👨‍👩‍👧",
        "🦄",
        "中",
        "ж",
        "https://x.co/a ",
        "@bob.bsky.social ",
        "@a@b.c ",
    ]
)
_TEXT = st.lists(_ALPHABET, max_size=120).map("".join)
_KINDS: list[Kind] = ["mention", "reply", "quote", "comment", "review"]


@st.composite
def item_lists(draw: st.DrawFn) -> list[DigestItem]:
    numbers = draw(st.lists(st.integers(1, 999_999), unique=True, max_size=25))
    items = []
    for number in numbers:
        kind = draw(st.sampled_from(_KINDS))
        items.append(
            DigestItem(
                number=number,
                network=draw(st.sampled_from(["bluesky", "mastodon", "facebook", "instagram", "google", "x", "ẞ€"])),
                kind=kind,
                author=draw(_TEXT),
                text=draw(_TEXT),
                rating=draw(st.integers(1, 5)) if kind == "review" and draw(st.booleans()) else None,
                created_at=NOW - timedelta(minutes=draw(st.integers(0, 7 * 24 * 60))),
                is_reply_to_us=draw(st.booleans()),
            )
        )
    return items


@FAST
@given(items=item_lists(), lang=st.sampled_from(["fr", "en"]), budget=st.integers(1, 3))
def test_every_digest_fits_and_pages_cover_every_item_once(
    items: list[DigestItem], lang: Literal["fr", "en"], budget: int
) -> None:
    pages = all_pages(items, lang, budget)
    seen = 0
    for page, digest in enumerate(pages, start=1):
        check_page(digest, page, len(items), seen, lang, budget)
        seen += len(digest.shown)
    shown = [n for d in pages for n in d.shown]
    assert sorted(shown) == sorted(i.number for i in items)
    assert shown == [i.number for i in sorted(items, key=priority)]
    if not items:
        assert compose_sms_digest(items, lang, budget_segments=budget) == Digest("", [], 0, 0)
