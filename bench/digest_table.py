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


def _row(
    number: int,
    network: str,
    author: str,
    text: str,
    *,
    kind: Kind = "mention",
    rating: int | None = None,
    ago: int = 0,
    to_us: bool = False,
    urgent: bool = False,
) -> Row:
    item = DigestItem(number, network, kind, author, text, rating, NOW - timedelta(minutes=ago), to_us)
    return Row(item, urgent)


def _review(number: int, author: str, text: str, rating: int, ago: int) -> Row:
    return _row(number, "google", author, text, kind="review", rating=rating, ago=ago, urgent=rating <= 3)


TABLE: dict[Lang, list[Row]] = {
    "fr": [
        _row(
            101,
            "bluesky",
            "@fan31479098.bsky.social",
            "@lardoise.bsky.social Bonjour! Est-ce que vous serez ouverts le 26 décembre pour le brunch de la famille?",
            ago=3,
            urgent=True,
        ),
        _review(
            102,
            "Jean-François Bélanger-Tremblay",
            "Attendu 50 minutes pour deux burgers tièdes. Personne ne s’est excusé. Très déçu.",
            1,
            40,
        ),
        _row(
            103,
            "mastodon",
            "@marco_gourmand@mastodon.social",
            "@lardoise@mastodon.social le pouding chômeur de ce midi était incroyable, merci à toute l’équipe!",
            ago=12,
        ),
        _row(
            104,
            "facebook",
            "Sylvie Lachance-Gauthier",
            "Les frites étaient froides et la serveuse pas très aimable ce soir… dommage, d’habitude c’est bien.",
            kind="comment",
            ago=25,
            urgent=True,
        ),
        _row(
            105,
            "instagram",
            "vegemontreal.qc",
            "Trop beau 😍 vous faites la même chose en version végé?",
            kind="comment",
            ago=60,
            urgent=True,
        ),
        _review(106, "Karine P.", "Meilleure poutine de l’Outaouais, service rapide et souriant. On revient!", 5, 90),
        _row(
            107,
            "bluesky",
            "@julie-m.bsky.social",
            "@lardoise.bsky.social merci pour la belle soirée d’anniversaire samedi, les enfants ont adoré le gâteau",
            ago=120,
        ),
        _row(
            108,
            "facebook",
            "Nathalie Dubois-Charbonneau",
            "Bonjour, avez-vous encore des places pour le réveillon du 31 décembre pour 6 personnes?",
            kind="comment",
            ago=150,
            urgent=True,
        ),
        _review(
            109,
            "M. Roy",
            "Bonne bouffe mais beaucoup trop bruyant, impossible de se parler. Et l’addition salée.",
            2,
            200,
        ),
        _row(
            110,
            "mastodon",
            "@amelie@piaille.fr",
            "@lardoise@mastodon.social @chef_luc@piaille.fr bravo pour le "
            "nouveau menu d’automne, la courge rôtie est top",
            kind="reply",
            ago=240,
            to_us=True,
        ),
        _row(
            111,
            "bluesky",
            "@consultant-gatineau.bsky.social",
            "Je recommande fortement @lardoise.bsky.social pour les dîners d’affaires à Gatineau, calme et efficace.",
            ago=300,
        ),
        _row(112, "instagram", "foodie_819", "🔥🔥🔥", kind="comment", ago=320),
        _row(
            113,
            "facebook",
            "Pierre-Luc Gagnon",
            "Vous acceptez les chiens sur la terrasse l’été?",
            kind="comment",
            ago=400,
            urgent=True,
        ),
        _review(114, "Denis L.", "Très bon rapport qualité-prix. Le dessert était un peu sucré à mon goût.", 4, 500),
        _row(
            115,
            "bluesky",
            "@maxime-t.bsky.social",
            "@lardoise.bsky.social j’ai trouvé un cheveu dans ma soupe hier soir, inacceptable. J’attends une réponse.",
            ago=30,
            urgent=True,
        ),
        _row(
            116,
            "facebook",
            "Chambre de commerce de Gatineau",
            "Félicitations pour vos 10 ans! 🎉 Longue vie à l’Ardoise",
            kind="comment",
            ago=600,
        ),
    ],
    "en": [
        _row(
            201,
            "bluesky",
            "@traveller31479098.bsky.social",
            "@lardoise.bsky.social Hi! Quick question: are you "
            "open on Boxing Day for brunch, and do you take reservations for 8?",
            ago=3,
            urgent=True,
        ),
        _review(
            202,
            "Michael Thompson-Whitfield",
            "Waited over an hour for cold food and the manager never came by. Never again.",
            1,
            40,
        ),
        _row(
            203,
            "mastodon",
            "@sam_eats@mastodon.online",
            "@lardoise@mastodon.social the maple tart today was unreal, thanks to the whole crew!",
            ago=12,
        ),
        _row(
            204,
            "facebook",
            "Jennifer O’Sullivan-Baker",
            "Our fries were cold and the waiter was pretty rude tonight, disappointing since it’s usually great.",
            kind="comment",
            ago=25,
            urgent=True,
        ),
        _row(
            205,
            "instagram",
            "plantbased.ottawa",
            "Looks amazing 😍 do you have a vegan version of this?",
            kind="comment",
            ago=60,
            urgent=True,
        ),
        _review(206, "Karen P.", "Best poutine in town, quick and friendly service. We’ll be back!", 5, 90),
        _row(
            207,
            "bluesky",
            "@julie-m.bsky.social",
            "@lardoise.bsky.social thanks for the lovely birthday dinner on Saturday, the kids loved the cake",
            ago=120,
        ),
        _row(
            208,
            "facebook",
            "Nathalie Dubois-Charbonneau",
            "Hello, do you still have room for New Year’s Eve dinner for 6 people at 8 pm?",
            kind="comment",
            ago=150,
            urgent=True,
        ),
        _review(
            209, "R. Smith", "Good food but way too loud, we couldn’t hear each other. And the bill was steep.", 2, 200
        ),
        _row(
            210,
            "mastodon",
            "@amy@mastodon.online",
            "@lardoise@mastodon.social @chef_luc@mastodon.social congrats "
            "on the new fall menu, the roasted squash is great",
            kind="reply",
            ago=240,
            to_us=True,
        ),
        _row(
            211,
            "bluesky",
            "@consultant-ottawa.bsky.social",
            "Highly recommend @lardoise.bsky.social for business lunches in Gatineau, quiet and efficient.",
            ago=300,
        ),
        _row(212, "instagram", "foodie_613", "🔥🔥🔥", kind="comment", ago=320),
        _row(
            213,
            "facebook",
            "Peter Gagnon",
            "Are dogs allowed on the patio in summer?",
            kind="comment",
            ago=400,
            urgent=True,
        ),
        _review(214, "Dennis L.", "Great value for money. Dessert was a bit too sweet for me.", 4, 500),
        _row(
            215,
            "bluesky",
            "@max-t.bsky.social",
            "@lardoise.bsky.social found a hair in my soup last night, unacceptable. Waiting for an answer.",
            ago=30,
            urgent=True,
        ),
        _row(
            216,
            "facebook",
            "Gatineau Chamber of Commerce",
            "Congrats on 10 years! 🎉 Long live L’Ardoise",
            kind="comment",
            ago=600,
        ),
    ],
}
