"""Reply extraction on a large table of real-looking replies (FR/EN, every common client), plus its accuracy.

Each case is (new text the owner typed, the mail as their client sent it). The table is built from the
quoting styles of Gmail (web, Android), Outlook (desktop, web, iOS/Android), Apple Mail / iPhone,
Thunderbird, Yahoo and Samsung Email, in French and English, top- and bottom-posted, with and without
Ardoise's marker, plus hand-written edge cases (the French "Le …" over-cut, names containing "le",
inline answers, quoted-only mail, CRLF).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pytest

from app.email.reply import MARKER, extract

OURS_FR = (
    "Publié #12 : Page OK, Bluesky OK, Mastodon en attente\n\n"
    "Répondez ANNULER 12 pour retirer cette publication.\n"
    "Le Bistro chez Michelle"
)
OURS_EN = "Posted #12: Page OK, Bluesky OK, Mastodon pending\n\nReply UNDO 12 to remove this post.\nThe Bistro"
ADDR = "Ardoise <reply+k3v9s2aaaqbaeaq7s5hdr4m@ardoise.ca>"


def q(text: str, prefix: str = "> ") -> str:
    return "\n".join((prefix + line).rstrip() for line in text.split("\n"))


def with_marker(text: str) -> str:
    return MARKER + "\n\n" + text


@dataclass(frozen=True)
class Case:
    id: str
    mail: str
    text: str
    confident: bool = True
    quoted_only: bool = False


# Client styles: (new text, original) -> mail as sent.
Style = Callable[[str, str], str]

FR_STYLES: dict[str, Style] = {
    "gmail_fr": lambda n, o: f"{n}\n\nLe jeu. 26 nov. 2026 à 10:02, {ADDR} a écrit :\n\n{q(o)}\n",
    "gmail_fr_wrapped": lambda n, o: (
        f"{n}\n\nLe jeu. 26 nov. 2026 à 10:02, Ardoise <\nreply+k3v9s2aaaqbaeaq7s5hdr4m@ardoise.ca> a écrit :\n\n{q(o)}"
    ),
    "gmail_android_fr": lambda n, o: f"{n}\n\nLe jeu. 26 nov. 2026, 10 h 02, {ADDR} a écrit :\n\n{q(o)}\n",
    "iphone_fr": lambda n, o: f"{n}\n\nEnvoyé de mon iPhone\n\n> Le 26 nov. 2026 à 10:02, {ADDR} a écrit :\n>\n{q(o)}",
    "apple_mail_fr": lambda n, o: f"{n}\n\n> Le 26 nov. 2026 à 10:02, Ardoise <r@ardoise.ca> a écrit :\n> \n{q(o)}\n\n",
    "ipad_fr_crlf": lambda n, o: (
        f"{n}\n\nEnvoyé de mon iPad\n\n> Le 26 nov. 2026 à 10:02, {ADDR} a écrit :\n{q(o)}"
    ).replace("\n", "\r\n"),
    "outlook_desktop_fr": lambda n, o: (
        f"{n}\n\n________________________________\nDe : Ardoise <r@ardoise.ca>\nEnvoyé : jeudi 26 novembre 2026 "
        f"10:02\nÀ : Michelle Leblanc <michelle@bistro.ca>\nObjet : Publié #12\n\n{o}"
    ),
    "outlook_nbsp_fr": lambda n, o: (
        f"{n}\n\n________________________________\nDe\u00a0: Ardoise <r@ardoise.ca>\nEnvoyé\u00a0: jeudi 26 "
        f"novembre 2026 10:02\nÀ\u00a0: Michelle Roy\nObjet\u00a0: Publié #12\n\n{o}"
    ),
    "outlook_origine_fr": lambda n, o: (
        f"{n}\n\n-----Message d'origine-----\nDe : Ardoise [mailto:r@ardoise.ca]\nEnvoyé : 26 novembre 2026 "
        f"10:02\nÀ : Dan Le\nObjet : Publié #12\n\n{o}"
    ),
    "outlook_ios_fr": lambda n, o: (
        f"{n}\n\nObtenir Outlook pour iOS<https://aka.ms/o0ukef>\n________________________________\n"
        f"De : Ardoise <r@ardoise.ca>\nEnvoyé : Thursday, November 26, 2026 10:02:15 AM\nÀ : Michelle Roy\n"
        f"Objet : Publié #12\n\n{o}"
    ),
    "thunderbird_fr_top": lambda n, o: f"{n}\n\nLe 26/11/2026 à 10:02, Ardoise a écrit :\n{q(o)}\n",
    "thunderbird_fr_bottom": lambda n, o: f"Le 26/11/2026 à 10:02, Ardoise a écrit :\n{q(o)}\n\n{n}\n",
    "yahoo_fr": lambda n, o: (
        f"{n}\n\n\n    Le jeudi 26 novembre 2026, 10 h 02 min 15 s UTC−5, {ADDR} a écrit :\n\n\n{o}\n"
    ),
    "samsung_fr": lambda n, o: (
        f"{n}\n\n\n\nEnvoyé depuis mon smartphone Samsung Galaxy.\n\n-------- Message d'origine --------\n"
        f"De : Ardoise <r@ardoise.ca>\nDate : 26/11/2026 10:02 (GMT-05:00)\nÀ : m@bistro.ca\nObjet : Publié #12\n\n{o}"
    ),
    "gmail_fr_sig": lambda n, o: (
        f"{n}\n\n-- \nMichelle Leblanc\nBistro chez Michelle\n418 555-0120\n\n"
        f"Le jeu. 26 nov. 2026 à 10:02, {ADDR} a écrit :\n\n{q(o)}\n"
    ),
    "gmail_fr_closing": lambda n, o: (
        f"{n}\n\nMerci,\nMichelle\n\nLe jeu. 26 nov. 2026 à 10:02, {ADDR} a écrit :\n\n{q(o)}\n"
    ),
    "veille_sociale_fr": lambda n, o: (
        f"{n}\n\nLe jeu. 26 nov. 2026 à 10:02, Veille Sociale <veille@ardoise.ca> a écrit :\n\n{q(o)}\n"
    ),
}

EN_STYLES: dict[str, Style] = {
    "gmail_en": lambda n, o: f"{n}\n\nOn Thu, Nov 26, 2026 at 10:02 AM {ADDR} wrote:\n\n{q(o)}\n",
    "gmail_en_wrapped": lambda n, o: (
        f"{n}\n\nOn Thu, Nov 26, 2026 at 10:02 AM Ardoise <\nreply+k3v9s2aaaqbaeaq7s5hdr4m@ardoise.ca> wrote:\n\n{q(o)}"
    ),
    "gmail_android_en": lambda n, o: f"{n}\n\nOn Thu, Nov 26, 2026, 10:02 AM {ADDR} wrote:\n\n{q(o)}\n",
    "iphone_en": lambda n, o: f"{n}\n\nSent from my iPhone\n\n> On Nov 26, 2026, at 10:02 AM, {ADDR} wrote:\n>\n{q(o)}",
    "outlook_desktop_en": lambda n, o: (
        f"{n}\n\n________________________________\nFrom: Ardoise <r@ardoise.ca>\nSent: Thursday, November 26, 2026 "
        f"10:02 AM\nTo: Dan Le <dan@bistro.ca>\nSubject: Posted #12\n\n{o}"
    ),
    "outlook_original_en": lambda n, o: (
        f"{n}\n\n-----Original Message-----\nFrom: Ardoise [mailto:r@ardoise.ca]\nSent: November 26, 2026 10:02 AM"
        f"\nTo: Dan Le\nSubject: Posted #12\n\n{o}"
    ),
    "outlook_android_en": lambda n, o: (
        f"{n}\n\nGet Outlook for Android<https://aka.ms/ghei36>\n________________________________\n"
        f"From: Ardoise <r@ardoise.ca>\nSent: Thursday, November 26, 2026 10:02:15 AM\nTo: Dan\n"
        f"Subject: Posted #12\n\n{o}"
    ),
    "thunderbird_en_top": lambda n, o: f"{n}\n\nOn 11/26/2026 10:02 AM, Ardoise wrote:\n{q(o)}\n",
    "thunderbird_en_bottom": lambda n, o: f"On 11/26/2026 10:02 AM, Ardoise wrote:\n{q(o)}\n\n{n}\n",
    "yahoo_en": lambda n, o: f"{n}\n\n\n    On Thursday, November 26, 2026, 10:02:15 AM EST, {ADDR} wrote:\n\n\n{o}\n",
    "gmail_en_sig": lambda n, o: (
        f"{n}\n\n--\nDan Le\nThe Bistro | 418-555-0120\n\nOn Thu, Nov 26, 2026 at 10:02 AM {ADDR} wrote:\n\n{q(o)}\n"
    ),
    "gmail_en_regards": lambda n, o: (
        f"{n}\n\nBest regards,\nDan\n\nOn Thu, Nov 26, 2026 at 10:02 AM {ADDR} wrote:\n\n{q(o)}\n"
    ),
}

FR_TEXTS = {
    "oui": "OUI",
    "publier": "PUBLIER Menu du jour : soupe aux pois et tourtière.",
    "starts_le": "Le prix reste à 16,95 $.",
    "le_twice": "Le menu de ce midi : soupe à l'oignon.\nLe dessert est offert aux 10 premiers.",
    "digest": "4: merci beaucoup!\n7: On vous attend samedi.",
    "michelle": "Merci à Michelle Leblanc pour les photos! Ouvert le 24 décembre jusqu'à 15 h.",
    "annuler": "ANNULER 12",
}
EN_TEXTS = {
    "yes": "YES",
    "post": "POST Today's special: pea soup and meat pie.",
    "starts_on": "On Saturday we open at 9 am, see you there!",
    "digest": "R 4 Thanks for coming!\n5: See you soon.",
    "undo": "UNDO 12",
}


def generated() -> list[Case]:
    cases = []
    for sname, style in FR_STYLES.items():
        for tname, text in FR_TEXTS.items():
            cases.append(Case(f"{sname}-{tname}", style(text, OURS_FR), text))
        cases.append(Case(f"{sname}-marker", style(FR_TEXTS["publier"], with_marker(OURS_FR)), FR_TEXTS["publier"]))
    for sname, style in EN_STYLES.items():
        for tname, text in EN_TEXTS.items():
            cases.append(Case(f"{sname}-{tname}", style(text, OURS_EN), text))
        cases.append(Case(f"{sname}-marker", style(EN_TEXTS["post"], with_marker(OURS_EN)), EN_TEXTS["post"]))
    return cases


HAND: list[Case] = [
    Case("marker-plain", f"OUI merci\n\n{MARKER}\n\n{OURS_FR}", "OUI merci"),
    Case(
        "marker-quoted-gmail",
        f"OUI\n\nLe jeu. 26 nov. 2026 à 10:02, {ADDR} a écrit :\n\n> {MARKER}\n>\n{q(OURS_FR)}",
        "OUI",
    ),
    Case(
        "marker-wrapped-attrib-over-cut",
        f"Ouvert demain.\nLe prix reste à 16,95 $.\nLe jeu. 26 nov. 2026 à 10:02, Ardoise <\nr@ardoise.ca> a écrit :\n"
        f"> {MARKER}\n{q(OURS_FR)}",
        "Ouvert demain.\nLe prix reste à 16,95 $.",
    ),
    Case(
        "marker-outlook-block",
        f"ANNULER 12\n\n________________________________\nDe : Ardoise <r@ardoise.ca>\nEnvoyé : jeudi 26 novembre 2026"
        f" 10:02\nÀ : Michelle\nObjet : Publié #12\n\n{MARKER}\n\n{OURS_FR}",
        "ANNULER 12",
    ),
    Case("marker-only", f"\n\n> {MARKER}\n{q(OURS_FR)}", "", quoted_only=True),
    Case(
        "marker-inline-above",
        f"> Publié #12 : Page OK\nSuper merci\n> {MARKER}\n{q(OURS_FR)}",
        "Super merci",
        confident=False,
    ),
    Case(
        "over-cut-le-no-blank",
        f"Le prix reste à 16,95 $.\nLe jeu. 26 nov. 2026 à 10:02, {ADDR} a écrit :\n{q(OURS_FR)}",
        "Le prix reste à 16,95 $.",
    ),
    Case(
        "over-cut-le-three-lines",
        "Le brunch revient dimanche.\nLe café est offert.\nLe jeu. 26 nov. 2026 à 10:02, Michelle Leblanc\n"
        f"<michelle@bistro.ca> a écrit :\n{q(OURS_FR)}",
        "Le brunch revient dimanche.\nLe café est offert.",
    ),
    Case(
        "over-cut-on-no-blank",
        f"On Saturday we open at 9 am.\nOn Thu, Nov 26, 2026 at 10:02 AM {ADDR} wrote:\n{q(OURS_EN)}",
        "On Saturday we open at 9 am.",
    ),
    Case(
        "talon-miss-single-quoted-line",
        f"Parfait\n\n> Le 26 nov. 2026 à 10:02, {ADDR} a écrit :\n> Publié #12",
        "Parfait",
    ),
    Case(
        "quoted-only-gmail-fr",
        f"Le jeu. 26 nov. 2026 à 10:02, {ADDR} a écrit :\n\n{q(OURS_FR)}\n",
        "",
        quoted_only=True,
    ),
    Case("quoted-only-bare", q(OURS_EN), "", quoted_only=True),
    Case(
        "quoted-only-iphone-sig",
        f"\nEnvoyé de mon iPhone\n\n> Le 26 nov. 2026 à 10:02, {ADDR} a écrit :\n{q(OURS_FR)}",
        "",
        quoted_only=True,
    ),
    Case(
        "quoted-only-outlook",
        "\n________________________________\nDe : Ardoise\nEnvoyé : jeudi 26 novembre 2026\nÀ : Dan\n"
        f"Objet : X\n\n{OURS_FR}",
        "",
        quoted_only=True,
    ),
    Case(
        "inline-answers",
        "Le 26/11/2026 à 10:02, Ardoise a écrit :\n> Publier ce texte?\nOui\n> Et la photo?\nNon, sans photo\n",
        "Oui\n\nNon, sans photo",
        confident=False,
    ),
    Case(
        "inline-answers-en",
        "> Post this?\nYes please\n>\n> Add the photo too?\nNo\n",
        "Yes please\n\nNo",
        confident=False,
    ),
    Case(
        "top-and-inline",
        "Voir plus bas\n\n> Publier ce texte?\nOui\n",
        "Voir plus bas\n\nOui",
        confident=False,
    ),
    Case("bottom-with-sig", f"On 11/26/2026 10:02 AM, Ardoise wrote:\n{q(OURS_EN)}\n\nYES\n-- \nDan\n", "YES"),
    Case("top-sig-below-quote", "OUI\n\n> Publier ce texte?\n\n-- \nMichelle Leblanc\n418 555-0120\n", "OUI"),
    Case("no-history", "PUBLIER Nouveau menu du midi!\n\nÀ bientôt,\nMichelle", "PUBLIER Nouveau menu du midi!"),
    Case("no-history-sig-dashes", "Soupe du jour : poireaux.\n-- \nMichelle\nBistro", "Soupe du jour : poireaux."),
    Case(
        "sent-from-desk-stays",
        "Sent from my desk, is much easier then my mobile phone.",
        "Sent from my desk, is much easier then my mobile phone.",
    ),
    Case("sent-from-iphone-only", "Sent from my iPhone", "", quoted_only=False),
    Case(
        "forward-gmail-fr",
        "Regardez cet avis, on peut le publier?\n\n---------- Forwarded message ---------\nDe : Julie <julie@ex.com>\n"
        "Date: jeu. 26 nov. 2026 à 09:00\nSubject: Merci!\nTo: <bistro@ex.com>\n\nMeilleur brunch en ville!",
        "Regardez cet avis, on peut le publier?",
    ),
    Case(
        "forward-apple-fr",
        "À publier svp\n\nDébut du message réexpédié :\n\nDe: Julie <julie@ex.com>\nObjet: Merci!\n\nSuper soirée!",
        "À publier svp",
    ),
    Case(
        "forward-transfere-fr",
        "PUBLIER\n\n-------- Message transféré --------\nSujet : Photos\nDate : 26/11/2026\n\nVoici les photos",
        "PUBLIER",
    ),
    Case(
        "forward-en-begin",
        "Please post this\n\nBegin forwarded message:\n\nFrom: Julie <julie@ex.com>\nSubject: Thanks\n\nGreat night",
        "Please post this",
    ),
    Case(
        "post-with-hours-de-a",
        "Horaires des fêtes\nDe : 9h\nÀ : 17h\nBienvenue à tous!",
        "Horaires des fêtes\nDe : 9h\nÀ : 17h\nBienvenue à tous!",
    ),
    Case("post-merci-a-tous", "Fermé lundi.\nMerci à tous!", "Fermé lundi.\nMerci à tous!"),
    Case("post-ends-merci-name", "Fermé lundi pour inventaire.\n\nMerci!\nMichelle", "Fermé lundi pour inventaire."),
    Case("crlf-gmail-en", f"YES\r\n\r\nOn Thu, Nov 26, 2026 at 10:02 AM {ADDR} wrote:\r\n\r\n> Post this?\r\n", "YES"),
    Case("nbsp-in-text", "Spécial\u00a0: 2 pour 1\u202f!", "Spécial : 2 pour 1 !"),
    Case(
        "yahoo-fr-unquoted-copy",
        f"OUI\n\nLe jeudi 26 novembre 2026, 10 h 02 min 15 s UTC−5, {ADDR} a écrit :\n\n{OURS_FR}",
        "OUI",
    ),
    Case(
        "name-wrote-loose",
        f"OK pour moi\n\nArdoise <r@ardoise.ca> a écrit :\n{q(OURS_FR)}",
        "OK pour moi",
    ),
    Case(
        "sentence-ends-ecrit-kept",
        "Voici ce que Paul a écrit dans le livre d'or",
        "Voici ce que Paul a écrit dans le livre d'or",
    ),
    Case(
        "gmail-nested-history",
        f"OUI\n\nLe jeu. 26 nov. 2026 à 10:02, {ADDR} a écrit :\n\n> Publier?\n>\n> Le mer. 25 nov. 2026 à 09:00, "
        "Michelle <m@b.ca> a écrit :\n>> PUBLIER vieux texte\n",
        "OUI",
    ),
    Case(
        "outlook-web-en-no-separator",
        f"Thanks\n\nFrom: Ardoise <r@ardoise.ca>\nSent: Thursday, November 26, 2026 10:02 AM\n"
        f"To: Dan\nSubject: Posted #12\n\n{OURS_EN}",
        "Thanks",
    ),
    Case("mobile-en-sent-via", "STATUS\n\nSent via the Samsung Galaxy S22, an AT&T 5G smartphone", "STATUS"),
    Case("envoye-depuis-samsung", "ETAT\n\nEnvoyé depuis mon appareil Galaxy", "ETAT"),
    Case("only-command-cap", "etat", "etat"),
]

CASES = generated() + HAND


def _ok(case: Case) -> bool:
    got = extract(case.mail)
    return (got.text, got.confident, got.quoted_only) == (case.text, case.confident, case.quoted_only)


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_extract(case: Case) -> None:
    got = extract(case.mail)
    assert (got.text, got.confident, got.quoted_only) == (case.text, case.confident, case.quoted_only)


def test_table_is_large_and_accuracy_is_reported() -> None:
    assert len(CASES) >= 100
    ok = sum(_ok(c) for c in CASES)
    accuracy = ok / len(CASES)
    print(f"reply extraction: {ok}/{len(CASES)} = {accuracy:.1%}")  # noqa: T201
    assert accuracy >= 0.97


@pytest.mark.parametrize("case", [c for c in CASES if "ANNULER 12" in c.mail and "ANNULER" not in c.text])
def test_command_in_quoted_text_is_never_extracted(case: Case) -> None:
    assert "ANNULER" not in extract(case.mail).text
