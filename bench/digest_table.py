"""The digest bench's own table (issue 13): 16 real-style mentions, comments and reviews in French and 16 in English
for one bistro, none of them in the tests. Business handles as the networks write them (``@lardoise.bsky.social``,
``@lardoise@mastodon.social``), long display names, questions whose object comes late, complaints that are not
reviews, praise, emoji.

``urgent`` is written by hand (a question, a complaint or a review of 3 stars or less): the owner must see those
first, so the bench counts how many of them page 1 shows.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from app.mentions.digest import DigestItem, Kind, Lang

NOW = datetime(2026, 12, 3, 17, 0, tzinfo=UTC)
OWN_HANDLES = ("@lardoise.bsky.social", "@lardoise@mastodon.social")


@dataclass(frozen=True)
class Row:
    item: DigestItem
    urgent: bool


@dataclass(frozen=True)
class _Slot:
    """One line of the table in both languages: who wrote what differs (``fr``, ``en``: author and text); the
    network, kind, rating, age, whether it replies to the business and whether it is urgent are the same."""

    network: str
    fr: tuple[str, str]
    en: tuple[str, str]
    kind: Kind = "mention"
    rating: int | None = None
    ago: int = 0  # minutes before NOW
    to_us: bool = False
    urgent: bool = False

    def row(self, number: int, lang: Lang) -> Row:
        author, text = self.fr if lang == "fr" else self.en
        created = NOW - timedelta(minutes=self.ago)
        return Row(
            DigestItem(number, self.network, self.kind, author, text, self.rating, created, self.to_us), self.urgent
        )


def _review(rating: int, ago: int, *, fr: tuple[str, str], en: tuple[str, str]) -> _Slot:
    return _Slot("google", fr, en, kind="review", rating=rating, ago=ago, urgent=rating <= 3)


_SLOTS = [
    _Slot(
        "bluesky",
        fr=(
            "@fan31479098.bsky.social",
            "@lardoise.bsky.social Bonjour! Est-ce que vous serez ouverts le 26 décembre pour le brunch de la famille?",
        ),
        en=(
            "@traveller31479098.bsky.social",
            "@lardoise.bsky.social Hi! Quick question: are you "
            "open on Boxing Day for brunch, and do you take reservations for 8?",
        ),
        ago=3,
        urgent=True,
    ),
    _review(
        1,
        40,
        fr=(
            "Jean-François Bélanger-Tremblay",
            "Attendu 50 minutes pour deux burgers tièdes. Personne ne s’est excusé. Très déçu.",
        ),
        en=(
            "Michael Thompson-Whitfield",
            "Waited over an hour for cold food and the manager never came by. Never again.",
        ),
    ),
    _Slot(
        "mastodon",
        fr=(
            "@marco_gourmand@mastodon.social",
            "@lardoise@mastodon.social le pouding chômeur de ce midi était incroyable, merci à toute l’équipe!",
        ),
        en=(
            "@sam_eats@mastodon.online",
            "@lardoise@mastodon.social the maple tart today was unreal, thanks to the whole crew!",
        ),
        ago=12,
    ),
    _Slot(
        "facebook",
        fr=(
            "Sylvie Lachance-Gauthier",
            "Les frites étaient froides et la serveuse pas très aimable ce soir… dommage, d’habitude c’est bien.",
        ),
        en=(
            "Jennifer O’Sullivan-Baker",
            "Our fries were cold and the waiter was pretty rude tonight, disappointing since it’s usually great.",
        ),
        kind="comment",
        ago=25,
        urgent=True,
    ),
    _Slot(
        "instagram",
        fr=("vegemontreal.qc", "Trop beau 😍 vous faites la même chose en version végé?"),
        en=("plantbased.ottawa", "Looks amazing 😍 do you have a vegan version of this?"),
        kind="comment",
        ago=60,
        urgent=True,
    ),
    _review(
        5,
        90,
        fr=("Karine P.", "Meilleure poutine de l’Outaouais, service rapide et souriant. On revient!"),
        en=("Karen P.", "Best poutine in town, quick and friendly service. We’ll be back!"),
    ),
    _Slot(
        "bluesky",
        fr=(
            "@julie-m.bsky.social",
            "@lardoise.bsky.social merci pour la belle soirée d’anniversaire samedi, les enfants ont adoré le gâteau",
        ),
        en=(
            "@julie-m.bsky.social",
            "@lardoise.bsky.social thanks for the lovely birthday dinner on Saturday, the kids loved the cake",
        ),
        ago=120,
    ),
    _Slot(
        "facebook",
        fr=(
            "Nathalie Dubois-Charbonneau",
            "Bonjour, avez-vous encore des places pour le réveillon du 31 décembre pour 6 personnes?",
        ),
        en=(
            "Nathalie Dubois-Charbonneau",
            "Hello, do you still have room for New Year’s Eve dinner for 6 people at 8 pm?",
        ),
        kind="comment",
        ago=150,
        urgent=True,
    ),
    _review(
        2,
        200,
        fr=("M. Roy", "Bonne bouffe mais beaucoup trop bruyant, impossible de se parler. Et l’addition salée."),
        en=("R. Smith", "Good food but way too loud, we couldn’t hear each other. And the bill was steep."),
    ),
    _Slot(
        "mastodon",
        fr=(
            "@amelie@piaille.fr",
            "@lardoise@mastodon.social @chef_luc@piaille.fr bravo pour le "
            "nouveau menu d’automne, la courge rôtie est top",
        ),
        en=(
            "@amy@mastodon.online",
            "@lardoise@mastodon.social @chef_luc@mastodon.social congrats "
            "on the new fall menu, the roasted squash is great",
        ),
        kind="reply",
        ago=240,
        to_us=True,
    ),
    _Slot(
        "bluesky",
        fr=(
            "@consultant-gatineau.bsky.social",
            "Je recommande fortement @lardoise.bsky.social pour les dîners d’affaires à Gatineau, calme et efficace.",
        ),
        en=(
            "@consultant-ottawa.bsky.social",
            "Highly recommend @lardoise.bsky.social for business lunches in Gatineau, quiet and efficient.",
        ),
        ago=300,
    ),
    _Slot("instagram", fr=("foodie_819", "🔥🔥🔥"), en=("foodie_613", "🔥🔥🔥"), kind="comment", ago=320),
    _Slot(
        "facebook",
        fr=("Pierre-Luc Gagnon", "Vous acceptez les chiens sur la terrasse l’été?"),
        en=("Peter Gagnon", "Are dogs allowed on the patio in summer?"),
        kind="comment",
        ago=400,
        urgent=True,
    ),
    _review(
        4,
        500,
        fr=("Denis L.", "Très bon rapport qualité-prix. Le dessert était un peu sucré à mon goût."),
        en=("Dennis L.", "Great value for money. Dessert was a bit too sweet for me."),
    ),
    _Slot(
        "bluesky",
        fr=(
            "@maxime-t.bsky.social",
            "@lardoise.bsky.social j’ai trouvé un cheveu dans ma soupe hier soir, inacceptable. J’attends une réponse.",
        ),
        en=(
            "@max-t.bsky.social",
            "@lardoise.bsky.social found a hair in my soup last night, unacceptable. Waiting for an answer.",
        ),
        ago=30,
        urgent=True,
    ),
    _Slot(
        "facebook",
        fr=("Chambre de commerce de Gatineau", "Félicitations pour vos 10 ans! 🎉 Longue vie à l’Ardoise"),
        en=("Gatineau Chamber of Commerce", "Congrats on 10 years! 🎉 Long live L’Ardoise"),
        kind="comment",
        ago=600,
    ),
]

# Item numbers: 101, 102… in French, 201, 202… in English.
FIRST_NUMBER: dict[Lang, int] = {"fr": 101, "en": 201}
TABLE: dict[Lang, list[Row]] = {
    lang: [slot.row(first + i, lang) for i, slot in enumerate(_SLOTS)] for lang, first in FIRST_NUMBER.items()
}
