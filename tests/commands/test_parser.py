"""The command language, as a table: every keyword in both languages, the quirks, and what is not a command."""

from __future__ import annotations

import time as clock
from collections.abc import Callable
from datetime import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.commands.parser import (
    MAX_TEXT,
    Alerts,
    Confirm,
    Empty,
    Help,
    Hours,
    Invalid,
    Lang,
    Language,
    Like,
    LoneWord,
    Mentions,
    ParseResult,
    Pause,
    Pin,
    Publish,
    Reply,
    Resume,
    Schedule,
    Scheduled,
    Start,
    Status,
    Stop,
    Suggest,
    TooLong,
    Undo,
    Unknown,
    Unschedule,
    one_edit_apart,
    parse,
    parse_email_reply_lines,
)
from app.scheduling.grammar import Spec, read_when

FR: Lang = "fr"
EN: Lang = "en"
LONG_POST = "Soupe du jour: " + "courge rôtie et érable, " * 60  # ~1,455 chars: long for X, fine for us


def t(hour: int, minute: int = 0) -> time:
    return time(hour, minute)


PARSE_TABLE = [
    # --- PUBLIER / POST / PUB / PUBLISH -------------------------------------------------------
    pytest.param("PUBLIER Menu du jour", Publish("Menu du jour", keyword_lang=FR), id="publier"),
    pytest.param("publier Menu du jour", Publish("Menu du jour", keyword_lang=FR), id="publier-lower"),
    pytest.param("Publier Menu du jour", Publish("Menu du jour", keyword_lang=FR), id="publier-title"),
    pytest.param("PuBlIeR Menu", Publish("Menu", keyword_lang=FR), id="publier-mixed-case"),
    pytest.param("Publiér Menu", Publish("Menu", keyword_lang=FR), id="publier-stray-accent"),
    pytest.param("PUBLIER: Menu du jour", Publish("Menu du jour", keyword_lang=FR), id="publier-colon"),
    pytest.param("PUBLIER:Menu du jour", Publish("Menu du jour", keyword_lang=FR), id="publier-colon-glued"),
    pytest.param("PUBLIER : Menu", Publish("Menu", keyword_lang=FR), id="publier-spaced-colon"),
    pytest.param("publier - Menu", Publish("Menu", keyword_lang=FR), id="publier-dash"),
    pytest.param("PUBLIER — Menu", Publish("Menu", keyword_lang=FR), id="publier-em-dash"),
    pytest.param("PUBLIER... Menu", Publish("Menu", keyword_lang=FR), id="publier-dots"),
    pytest.param("PUBLIER! Menu", Publish("Menu", keyword_lang=FR), id="publier-bang"),
    pytest.param("   \n PUBLIER Menu  \n", Publish("Menu", keyword_lang=FR), id="publier-surrounding-space"),
    pytest.param("\ufeffPUBLIER Menu", Publish("Menu", keyword_lang=FR), id="publier-bom"),
    pytest.param("\u200bPUBLIER Menu", Publish("Menu", keyword_lang=FR), id="publier-zero-width"),
    pytest.param("PUBLIER\u00a0Menu", Publish("Menu", keyword_lang=FR), id="publier-nbsp"),
    pytest.param("PUBLIER\nMenu du jour", Publish("Menu du jour", keyword_lang=FR), id="publier-newline"),
    pytest.param("PUBLIER\tMenu", Publish("Menu", keyword_lang=FR), id="publier-tab"),
    pytest.param("ＰＵＢＬＩＥＲ Menu", Publish("Menu", keyword_lang=FR), id="publier-full-width"),
    pytest.param(
        "PUBLIER Soupe à l'oignon\nDessert: crème brûlée 🍮\n\nÀ ce soir!",
        Publish("Soupe à l'oignon\nDessert: crème brûlée 🍮\n\nÀ ce soir!", keyword_lang=FR),
        id="publier-keeps-text-exactly",
    ),
    pytest.param("PUBLIER ÉTÉ 2026", Publish("ÉTÉ 2026", keyword_lang=FR), id="publier-keeps-case-accents"),
    pytest.param("PUBLIER -5% ce soir", Publish("-5% ce soir", keyword_lang=FR), id="publier-minus-not-separator"),
    pytest.param("PUBLIER :) à ce soir", Publish(":) à ce soir", keyword_lang=FR), id="publier-smiley-kept"),
    pytest.param("PUBLIER STOP", Publish("STOP", keyword_lang=FR), id="publier-text-is-keyword"),
    pytest.param('PUBLIER "Menu" du jour', Publish('"Menu" du jour', keyword_lang=FR), id="publier-inner-quotes"),
    pytest.param('"PUBLIER Menu du jour"', Publish("Menu du jour", keyword_lang=FR), id="publier-quoted-whole"),
    pytest.param("“PUBLIER Menu du jour”", Publish("Menu du jour", keyword_lang=FR), id="publier-curly-quoted"),
    pytest.param("« PUBLIER Menu du jour »", Publish("Menu du jour", keyword_lang=FR), id="publier-guillemets"),
    pytest.param('"PUBLIER" Menu', Publish("Menu", keyword_lang=FR), id="publier-quoted-keyword"),
    pytest.param("PUBLIER", Publish("", keyword_lang=FR), id="publier-alone-is-media-only"),
    pytest.param("PUBLIER:", Publish("", keyword_lang=FR), id="publier-colon-alone"),
    pytest.param("POST Menu of the day", Publish("Menu of the day", keyword_lang=EN), id="post"),
    pytest.param("post: tonight jazz", Publish("tonight jazz", keyword_lang=EN), id="post-lower-colon"),
    pytest.param("PUBLISH Open today", Publish("Open today", keyword_lang=EN), id="publish"),
    pytest.param("PUB Menu du jour", Publish("Menu du jour", keyword_lang=None), id="pub"),
    pytest.param("pub. Menu", Publish("Menu", keyword_lang=None), id="pub-dot"),
    pytest.param("PUBLIER " + LONG_POST, Publish(LONG_POST.strip(), keyword_lang=FR), id="publier-long-ok"),
    pytest.param("PUBLIER " + "🔥" * 300, Publish("🔥" * 300, keyword_lang=FR), id="publier-emoji-storm-kept"),
    # --- A keyword is a whole first word ------------------------------------------------------
    pytest.param("POSTER des photos", Unknown("POSTER des photos"), id="poster-is-not-post"),
    pytest.param("Publications de la semaine", Unknown("Publications de la semaine"), id="publications-not-pub"),
    pytest.param("Publications", LoneWord("Publications"), id="publications-lone-not-suggested"),
    pytest.param("Post-concert party tonight", Unknown("Post-concert party tonight"), id="hyphenated-post-prefix"),
    pytest.param("Pubs are open", Unknown("Pubs are open"), id="pubs-not-pub"),
    # PUB is an alias only in capitals or set apart by punctuation: the word "Pub" starts many a pub's post.
    pytest.param("Pub quiz ce jeudi", Unknown("Pub quiz ce jeudi"), id="pub-word-is-text"),
    pytest.param("pub quiz tonight at 7!", Unknown("pub quiz tonight at 7!"), id="pub-lower-is-text"),
    pytest.param("Pub: quiz ce jeudi", Publish("quiz ce jeudi", keyword_lang=None), id="pub-colon-is-alias"),
    pytest.param('"Pub" quiz', Publish("quiz", keyword_lang=None), id="pub-quoted-is-alias"),
    pytest.param("Menu du jour: soupe", Unknown("Menu du jour: soupe"), id="free-text"),
    pytest.param("Nouveau menu PUBLIER", Unknown("Nouveau menu PUBLIER"), id="keyword-not-first"),
    # --- ANNULER / UNDO / EFFACER / DELETE --------------------------------------------------
    pytest.param("ANNULER", Undo(None, keyword_lang=FR), id="annuler"),
    pytest.param("annuler 12", Undo(12, keyword_lang=FR), id="annuler-n"),
    pytest.param("ANNULER #12", Undo(12, keyword_lang=FR), id="annuler-hash-n"),
    pytest.param("Annuler 12 svp", Undo(12, keyword_lang=FR), id="annuler-n-svp"),
    pytest.param("ANNULER le dernier", Undo(None, keyword_lang=FR), id="annuler-le-dernier"),
    pytest.param("ANNULER 0", Invalid("ANNULER", "bad_number", keyword_lang=FR), id="annuler-zero"),
    pytest.param("ANNULER 1234567", Invalid("ANNULER", "bad_number", keyword_lang=FR), id="annuler-huge"),
    pytest.param("ANNULER la soirée", Invalid("ANNULER", "bad_number", keyword_lang=FR), id="annuler-words"),
    pytest.param("UNDO", Undo(None, keyword_lang=EN), id="undo"),
    pytest.param("undo 3", Undo(3, keyword_lang=EN), id="undo-n"),
    pytest.param("Undo the last one", Undo(None, keyword_lang=EN), id="undo-last-one"),
    pytest.param("EFFACER 12", Undo(12, keyword_lang=FR), id="effacer-n"),
    pytest.param("EFFACER", Invalid("EFFACER", "missing_number", keyword_lang=FR), id="effacer-needs-n"),
    pytest.param("effacer tout", Invalid("EFFACER", "missing_number", keyword_lang=FR), id="effacer-words"),
    pytest.param("SUPPRIMER 4", Undo(4, keyword_lang=FR), id="supprimer-n"),
    pytest.param("DELETE 7", Undo(7, keyword_lang=EN), id="delete-n"),
    pytest.param("delete", Invalid("DELETE", "missing_number", keyword_lang=EN), id="delete-needs-n"),
    pytest.param("DELETE 0", Invalid("DELETE", "bad_number", keyword_lang=EN), id="delete-zero"),
    pytest.param("CANCEL 12", Suggest(Undo(12, keyword_lang=EN), "CANCEL"), id="cancel-n-suggests-undo"),
    # --- ETAT / STATUS ---------------------------------------------------------------------
    pytest.param("ETAT", Status(keyword_lang=FR), id="etat"),
    pytest.param("État", Status(keyword_lang=FR), id="etat-accent"),
    pytest.param("état?", Status(keyword_lang=FR), id="etat-question-mark"),
    pytest.param("STATUT", Status(keyword_lang=FR), id="statut"),
    pytest.param("STATUS", Status(keyword_lang=EN), id="status"),
    pytest.param("status please", Status(keyword_lang=EN), id="status-please"),
    pytest.param("État des lieux de la terrasse", Unknown("État des lieux de la terrasse"), id="etat-prose"),
    # --- AIDE / HELP / INFO -----------------------------------------------------------------
    pytest.param("AIDE", Help(keyword_lang=FR), id="aide"),
    pytest.param("aide svp", Help(keyword_lang=FR), id="aide-svp"),
    pytest.param("Aide s'il vous plaît", Help(keyword_lang=FR), id="aide-sil-vous-plait"),
    pytest.param("Aide s’il te plaît!", Help(keyword_lang=FR), id="aide-curly-apostrophe"),
    pytest.param("AIDE R", Help("reply", keyword_lang=FR), id="aide-topic-r"),
    pytest.param("aide publier", Help("publish", keyword_lang=FR), id="aide-topic-publier"),
    pytest.param("HELP", Help(keyword_lang=EN), id="help"),
    pytest.param("help me", Help(keyword_lang=EN), id="help-me"),
    pytest.param("HELP POST", Help("publish", keyword_lang=EN), id="help-topic-post"),
    pytest.param("help M2", Help("mentions", keyword_lang=EN), id="help-topic-glued"),
    pytest.param("INFO", Help(keyword_lang=None), id="info"),
    pytest.param("Infos", Help(keyword_lang=FR), id="infos"),
    pytest.param("Aide recherchée en cuisine", Unknown("Aide recherchée en cuisine"), id="aide-prose"),
    pytest.param("Help wanted: line cook", Unknown("Help wanted: line cook"), id="help-wanted-prose"),
    pytest.param("Info: fermé lundi", Unknown("Info: fermé lundi"), id="info-prose"),
    # --- ARRET / STOP and the carrier opt-out words -----------------------------------------
    pytest.param("ARRET", Stop(keyword_lang=FR), id="arret"),
    pytest.param("ARRÊT", Stop(keyword_lang=FR), id="arret-circumflex"),
    pytest.param("arrêt.", Stop(keyword_lang=FR), id="arret-lower-dot"),
    pytest.param("STOP", Stop(keyword_lang=None), id="stop"),
    pytest.param("stop", Stop(keyword_lang=None), id="stop-lower"),
    pytest.param("STOP.", Stop(keyword_lang=None), id="stop-dot"),
    pytest.param("Stop!", Stop(keyword_lang=None), id="stop-bang"),
    pytest.param("  Stop  ", Stop(keyword_lang=None), id="stop-spaces"),
    pytest.param("« STOP »", Stop(keyword_lang=None), id="stop-guillemets"),
    pytest.param("'stop'", Stop(keyword_lang=None), id="stop-single-quotes"),
    pytest.param("Stop 🛑", Stop(keyword_lang=None), id="stop-emoji"),
    pytest.param("STOP merci", Stop(keyword_lang=None), id="stop-merci"),
    pytest.param("STOPALL", Stop(keyword_lang=EN), id="stopall"),
    pytest.param("UNSUBSCRIBE", Stop(keyword_lang=EN), id="unsubscribe"),
    pytest.param("CANCEL", Stop(keyword_lang=EN), id="cancel"),
    pytest.param("END", Stop(keyword_lang=EN), id="end"),
    pytest.param("quit", Stop(keyword_lang=EN), id="quit"),
    pytest.param("Stop the music tonight", Unknown("Stop the music tonight"), id="stop-prose-is-text"),
    pytest.param("Stop by for jazz night", Unknown("Stop by for jazz night"), id="stop-by-prose"),
    pytest.param("End of season sale!", Unknown("End of season sale!"), id="end-prose"),
    pytest.param("Cancel the order", Unknown("Cancel the order"), id="cancel-prose"),
    # --- START / UNSTOP / DEBUT --------------------------------------------------------------
    pytest.param("START", Start(keyword_lang=EN), id="start"),
    pytest.param("unstop", Start(keyword_lang=EN), id="unstop"),
    pytest.param("DEBUT", Start(keyword_lang=FR), id="debut"),
    pytest.param("Début", Start(keyword_lang=FR), id="debut-accent"),
    pytest.param("Début des travaux lundi", Unknown("Début des travaux lundi"), id="debut-prose"),
    pytest.param("Start your day with us", Unknown("Start your day with us"), id="start-prose"),
    # --- LANGUE / LANGUAGE --------------------------------------------------------------------
    pytest.param("LANGUE EN", Language("en", keyword_lang=FR), id="langue-en"),
    pytest.param("langue anglais", Language("en", keyword_lang=FR), id="langue-anglais"),
    pytest.param("LANGUAGE FR", Language("fr", keyword_lang=EN), id="language-fr"),
    pytest.param("Language French", Language("fr", keyword_lang=EN), id="language-french"),
    pytest.param("LANG fr", Language("fr", keyword_lang=None), id="lang-fr"),
    pytest.param("LANGUE: français", Language("fr", keyword_lang=FR), id="langue-francais-accent"),
    pytest.param("FRANÇAIS", Language("fr", keyword_lang=FR), id="francais-alone"),
    pytest.param("English", Language("en", keyword_lang=EN), id="english-alone"),
    pytest.param("LANGUE DE", Invalid("LANGUE", "bad_language", keyword_lang=FR), id="langue-de"),
    pytest.param("LANGUE", Invalid("LANGUE", "missing_language", keyword_lang=FR), id="langue-alone"),
    pytest.param("Langue de veau ce midi", Unknown("Langue de veau ce midi"), id="langue-de-veau-prose"),
    pytest.param("English menu available", Unknown("English menu available"), id="english-prose"),
    # --- OUI / NON ---------------------------------------------------------------------------
    pytest.param("OUI", Confirm(True, keyword_lang=FR), id="oui"),
    pytest.param("oui", Confirm(True, keyword_lang=FR), id="oui-lower"),
    pytest.param("Oui!", Confirm(True, keyword_lang=FR), id="oui-bang"),
    pytest.param("Oui merci", Confirm(True, keyword_lang=FR), id="oui-merci"),
    pytest.param("O", Confirm(True, keyword_lang=FR), id="o"),
    pytest.param("YES", Confirm(True, keyword_lang=EN), id="yes"),
    pytest.param("yes please", Confirm(True, keyword_lang=EN), id="yes-please"),
    pytest.param("Y", Confirm(True, keyword_lang=EN), id="y"),
    pytest.param("NON", Confirm(False, keyword_lang=FR), id="non"),
    pytest.param("non merci", Confirm(False, keyword_lang=FR), id="non-merci"),
    pytest.param("No", Confirm(False, keyword_lang=EN), id="no"),
    pytest.param("n", Confirm(False, keyword_lang=None), id="n"),
    pytest.param("Oui 👍", Confirm(True, keyword_lang=FR), id="oui-emoji"),
    pytest.param("Yes we're open Monday", Unknown("Yes we're open Monday"), id="yes-prose"),
    pytest.param("O Canada!", Unknown("O Canada!"), id="o-prose"),
    pytest.param("Non-stop musique ce soir", Unknown("Non-stop musique ce soir"), id="non-stop-prose"),
    # --- PIN / NIP -----------------------------------------------------------------------------
    pytest.param("PIN 4821", Pin("4821", keyword_lang=None), id="pin"),
    pytest.param("pin: 4821", Pin("4821", keyword_lang=None), id="pin-colon"),
    pytest.param("NIP 48213377", Pin("48213377", keyword_lang=FR), id="nip-8-digits"),
    pytest.param("PIN ４８２１", Pin("4821", keyword_lang=None), id="pin-full-width-digits"),
    pytest.param("PIN abc", Invalid("PIN", "bad_pin", keyword_lang=None), id="pin-letters"),
    pytest.param("PIN 482", Invalid("PIN", "bad_pin", keyword_lang=None), id="pin-too-short"),
    pytest.param("PIN 482133771", Invalid("PIN", "bad_pin", keyword_lang=None), id="pin-too-long"),
    pytest.param("PIN 48 21", Invalid("PIN", "bad_pin", keyword_lang=None), id="pin-split"),
    pytest.param("PIN", Invalid("PIN", "missing_pin", keyword_lang=None), id="pin-missing"),
    pytest.param("Pin de Noël en vente", Unknown("Pin de Noël en vente"), id="pin-tree-prose"),
    pytest.param("4821", LoneWord("4821"), id="digits-alone-not-pin"),
    # --- R / REPONDRE / REPLY -----------------------------------------------------------------
    pytest.param("R 4 merci!", Reply(4, "merci!", keyword_lang=None), id="r"),
    pytest.param("r 4 Merci beaucoup 🙏", Reply(4, "Merci beaucoup 🙏", keyword_lang=None), id="r-lower-emoji"),
    pytest.param("R4 merci", Reply(4, "merci", keyword_lang=None), id="r-glued"),
    pytest.param("R #4 merci", Reply(4, "merci", keyword_lang=None), id="r-hash"),
    pytest.param("R 4: merci", Reply(4, "merci", keyword_lang=None), id="r-colon"),
    pytest.param("R 4 - merci", Reply(4, "merci", keyword_lang=None), id="r-dash"),
    pytest.param("R:4 merci", Reply(4, "merci", keyword_lang=None), id="r-colon-glued"),
    pytest.param("R 4 Oui, on est ouverts\nÀ bientôt", Reply(4, "Oui, on est ouverts\nÀ bientôt"), id="r-multiline"),
    pytest.param("REPONDRE 5 Merci!", Reply(5, "Merci!", keyword_lang=FR), id="repondre"),
    pytest.param("Répondre 5 Merci!", Reply(5, "Merci!", keyword_lang=FR), id="repondre-accent"),
    pytest.param("RÉPONDRE 5 Merci!", Reply(5, "Merci!", keyword_lang=FR), id="repondre-upper-accent"),
    pytest.param("REPLY 6 Thanks!", Reply(6, "Thanks!", keyword_lang=EN), id="reply"),
    pytest.param("R", Invalid("R", "missing_number", keyword_lang=None), id="r-alone"),
    pytest.param("R merci", Invalid("R", "missing_number", keyword_lang=None), id="r-no-number"),
    pytest.param("R 4", Invalid("R", "missing_text", keyword_lang=None), id="r-no-text"),
    pytest.param("R 0 merci", Invalid("R", "bad_number", keyword_lang=None), id="r-zero"),
    pytest.param("R 12345678 merci", Invalid("R", "bad_number", keyword_lang=None), id="r-huge"),
    pytest.param("REPLY thanks", Invalid("REPLY", "missing_number", keyword_lang=EN), id="reply-no-number"),
    pytest.param("R. Dubé nous rend visite", Unknown("R. Dubé nous rend visite"), id="r-initial-prose"),
    pytest.param("R&D day", Unknown("R&D day"), id="r-ampersand-not-r"),
    # --- J / J'AIME / LIKE ---------------------------------------------------------------------
    pytest.param("J 4", Like(4, keyword_lang=FR), id="j"),
    pytest.param("j4", Like(4, keyword_lang=FR), id="j-glued"),
    pytest.param("J'aime 4", Like(4, keyword_lang=FR), id="jaime-apostrophe"),
    pytest.param("J’AIME #4", Like(4, keyword_lang=FR), id="jaime-curly"),
    pytest.param("JAIME 4", Like(4, keyword_lang=FR), id="jaime"),
    pytest.param("LIKE 4", Like(4, keyword_lang=EN), id="like"),
    pytest.param("like 4 merci", Like(4, keyword_lang=EN), id="like-merci"),
    pytest.param("J", Invalid("J", "missing_number", keyword_lang=FR), id="j-alone"),
    pytest.param("LIKE", Invalid("LIKE", "missing_number", keyword_lang=EN), id="like-alone"),
    pytest.param("J 0", Invalid("J", "bad_number", keyword_lang=FR), id="j-zero"),
    pytest.param("J 4 super resto", Invalid("J", "extra_text", keyword_lang=FR), id="j-extra-text"),
    pytest.param("J’aime l’automne!", Unknown("J’aime l’automne!"), id="jaime-prose"),
    pytest.param("Like us on Facebook", Unknown("Like us on Facebook"), id="like-prose"),
    pytest.param("J. Tremblay en cuisine", Unknown("J. Tremblay en cuisine"), id="j-initial-prose"),
    # --- MENTIONS / M / ? ---------------------------------------------------------------------
    pytest.param("MENTIONS", Mentions(1, keyword_lang=None), id="mentions"),
    pytest.param("mentions", Mentions(1, keyword_lang=None), id="mentions-lower"),
    pytest.param("Mention", Mentions(1, keyword_lang=None), id="mention-singular"),
    pytest.param("M", Mentions(1, keyword_lang=None), id="m"),
    pytest.param("m", Mentions(1, keyword_lang=None), id="m-lower"),
    pytest.param("?", Mentions(1, keyword_lang=None), id="question-mark"),
    pytest.param("??", Mentions(1, keyword_lang=None), id="question-marks"),
    pytest.param("M2", Mentions(2, keyword_lang=None), id="m2"),
    pytest.param("m 3", Mentions(3, keyword_lang=None), id="m-space-3"),
    pytest.param("MENTIONS 2", Mentions(2, keyword_lang=None), id="mentions-2"),
    pytest.param("M0", Invalid("M", "bad_page", keyword_lang=None), id="m0"),
    pytest.param("M. Tremblay", Unknown("M. Tremblay"), id="monsieur-prose"),
    pytest.param("Mentions légales mises à jour", Unknown("Mentions légales mises à jour"), id="mentions-prose"),
    pytest.param("? est-ce ouvert", Unknown("? est-ce ouvert"), id="question-mark-prose"),
    # --- HEURES / HOURS -----------------------------------------------------------------------
    pytest.param("HEURES 8h 17h", Hours((t(8), t(17)), keyword_lang=FR), id="heures"),
    pytest.param("heures 8h30 17h", Hours((t(8, 30), t(17)), keyword_lang=FR), id="heures-minutes"),
    pytest.param("HEURES 17h 8h", Hours((t(8), t(17)), keyword_lang=FR), id="heures-sorted"),
    pytest.param("HEURES 8h 8h 17h", Hours((t(8), t(17)), keyword_lang=FR), id="heures-deduplicated"),
    pytest.param("HEURES 8h-17h", Hours((t(8), t(17)), keyword_lang=FR), id="heures-dash"),
    pytest.param("HEURES 8h et 17h", Hours((t(8), t(17)), keyword_lang=FR), id="heures-et"),
    pytest.param("HEURES 8h à 17h", Hours((t(8), t(17)), keyword_lang=FR), id="heures-a"),
    pytest.param("HEURES 8 h, 17 h", Hours((t(8), t(17)), keyword_lang=FR), id="heures-spaced-h"),
    pytest.param("HEURES midi", Hours((t(12),), keyword_lang=FR), id="heures-midi"),
    pytest.param("HEURE 9h", Hours((t(9),), keyword_lang=FR), id="heure-singular"),
    pytest.param("HOURS 8am 5pm", Hours((t(8), t(17)), keyword_lang=EN), id="hours-am-pm"),
    pytest.param("hours 8 am 5 p.m.", Hours((t(8), t(17)), keyword_lang=EN), id="hours-spaced-am-pm"),
    pytest.param("HOURS 8:30 17:00", Hours((t(8, 30), t(17)), keyword_lang=EN), id="hours-colon"),
    pytest.param("HOURS 12am 12pm", Hours((t(0), t(12)), keyword_lang=EN), id="hours-twelves"),
    pytest.param("HOURS 7:45am and 6pm", Hours((t(7, 45), t(18)), keyword_lang=EN), id="hours-and"),
    pytest.param("HEURES", Invalid("HEURES", "missing_time", keyword_lang=FR), id="heures-missing"),
    pytest.param("HEURES 25h", Invalid("HEURES", "bad_time", keyword_lang=FR), id="heures-25"),
    pytest.param("HEURES 8h75", Invalid("HEURES", "bad_time", keyword_lang=FR), id="heures-bad-minutes"),
    pytest.param("HOURS 13pm", Invalid("HOURS", "bad_time", keyword_lang=EN), id="hours-13pm"),
    pytest.param(
        "HEURES 7h 9h 12h 17h 20h", Invalid("HEURES", "too_many_times", keyword_lang=FR), id="heures-too-many"
    ),
    pytest.param(
        "Heures d'ouverture: 11h à 22h", Unknown("Heures d'ouverture: 11h à 22h"), id="heures-ouverture-prose"
    ),
    pytest.param("Hours: Mon-Fri 8am-5pm", Unknown("Hours: Mon-Fri 8am-5pm"), id="hours-prose"),
    # --- PAUSE / REPRISE / RESUME -----------------------------------------------------------
    pytest.param("PAUSE", Pause(1, keyword_lang=None), id="pause-default"),
    pytest.param("PAUSE 3j", Pause(3, keyword_lang=None), id="pause-3j"),
    pytest.param("pause 3 jours", Pause(3, keyword_lang=None), id="pause-3-jours"),
    pytest.param("PAUSE 1 jour", Pause(1, keyword_lang=None), id="pause-1-jour"),
    pytest.param("PAUSE 3d", Pause(3, keyword_lang=None), id="pause-3d"),
    pytest.param("PAUSE 3 days", Pause(3, keyword_lang=None), id="pause-3-days"),
    pytest.param("PAUSE 2 semaines", Pause(14, keyword_lang=None), id="pause-weeks-fr"),
    pytest.param("PAUSE 1 week", Pause(7, keyword_lang=None), id="pause-week-en"),
    pytest.param("PAUSE 5", Pause(5, keyword_lang=None), id="pause-bare-number"),
    pytest.param("PAUSE 0", Invalid("PAUSE", "bad_duration", keyword_lang=None), id="pause-zero"),
    pytest.param("PAUSE 3h", Invalid("PAUSE", "bad_duration", keyword_lang=None), id="pause-hours"),
    pytest.param("PAUSE 900j", Invalid("PAUSE", "bad_duration", keyword_lang=None), id="pause-too-long"),
    pytest.param(
        "Pause estivale: fermé du 1er au 15 juillet",
        Unknown("Pause estivale: fermé du 1er au 15 juillet"),
        id="pause-prose",
    ),
    pytest.param("REPRISE", Resume(keyword_lang=FR), id="reprise"),
    pytest.param("reprise svp", Resume(keyword_lang=FR), id="reprise-svp"),
    pytest.param("RESUME", Resume(keyword_lang=EN), id="resume"),
    pytest.param("Résumé", Resume(keyword_lang=EN), id="resume-accents"),
    pytest.param("Reprise des activités lundi", Unknown("Reprise des activités lundi"), id="reprise-prose"),
    pytest.param("Résumé de la semaine", Unknown("Résumé de la semaine"), id="resume-prose"),
    # --- ALERTES / ALERTS -----------------------------------------------------------------
    pytest.param("ALERTES OUI", Alerts(True, keyword_lang=FR), id="alertes-oui"),
    pytest.param("alertes non", Alerts(False, keyword_lang=FR), id="alertes-non"),
    pytest.param("ALERTE OUI", Alerts(True, keyword_lang=FR), id="alerte-singular"),
    pytest.param("ALERTS ON", Alerts(True, keyword_lang=EN), id="alerts-on"),
    pytest.param("alerts off", Alerts(False, keyword_lang=EN), id="alerts-off"),
    pytest.param("ALERTS YES", Alerts(True, keyword_lang=EN), id="alerts-yes"),
    pytest.param("ALERTS NO", Alerts(False, keyword_lang=EN), id="alerts-no"),
    pytest.param("ALERTES", Invalid("ALERTES", "missing_value", keyword_lang=FR), id="alertes-missing"),
    pytest.param("ALERTES peut-être", Invalid("ALERTES", "bad_value", keyword_lang=FR), id="alertes-bad"),
    pytest.param("Alerte météo: fermé ce soir", Unknown("Alerte météo: fermé ce soir"), id="alerte-prose"),
    # --- Typos: one edit from a keyword of four letters or more -----------------------------
    pytest.param("PUBLIR Menu du jour", Suggest(Publish("Menu du jour", keyword_lang=FR), "PUBLIR"), id="typo-publir"),
    pytest.param("pubiler Menu", Suggest(Publish("Menu", keyword_lang=FR), "pubiler"), id="typo-transposition"),
    pytest.param("Publiez: Menu", Suggest(Publish("Menu", keyword_lang=FR), "Publiez"), id="typo-publiez"),
    pytest.param("POTS Menu", Unknown("POTS Menu"), id="pots-real-word-not-typo"),
    pytest.param("Lost and found: a scarf", Unknown("Lost and found: a scarf"), id="lost-real-word-not-typo"),
    pytest.param("Poste de plongeur à combler", Unknown("Poste de plongeur à combler"), id="poste-not-typo"),
    pytest.param("STAUTS", Suggest(Status(keyword_lang=EN), "STAUTS"), id="typo-status"),
    pytest.param("Annulé", Suggest(Undo(None, keyword_lang=FR), "Annulé"), id="typo-annule"),
    pytest.param("ANULER 12", Suggest(Undo(12, keyword_lang=FR), "ANULER"), id="typo-anuler-n"),
    pytest.param("REPONDR 4 merci", Suggest(Reply(4, "merci", keyword_lang=FR), "REPONDR"), id="typo-repondr"),
    pytest.param("HEURSE 8h 17h", Suggest(Hours((t(8), t(17)), keyword_lang=FR), "HEURSE"), id="typo-heures"),
    pytest.param("Heur du lunch", Unknown("Heur du lunch"), id="typo-args-do-not-fit"),
    pytest.param("REPONDR merci", Unknown("REPONDR merci"), id="typo-to-invalid-not-suggested"),
    pytest.param("ALERTE: OUI!", Alerts(True, keyword_lang=FR), id="alerte-colon-bang"),
    pytest.param("STPO", LoneWord("STPO"), id="no-typo-for-stop"),
    pytest.param("STRAT", LoneWord("STRAT"), id="no-typo-for-start"),
    pytest.param("OUII", LoneWord("OUII"), id="no-typo-for-oui"),
    pytest.param("PUV Menu", Unknown("PUV Menu"), id="no-typo-for-short-keyword"),
    pytest.param("RR 4 merci", Unknown("RR 4 merci"), id="no-typo-for-single-letter"),
    pytest.param("MM", LoneWord("MM"), id="no-typo-mm"),
    # --- Not commands --------------------------------------------------------------------------
    pytest.param("", Empty(), id="empty"),
    pytest.param("   \n\t ", Empty(), id="whitespace"),
    pytest.param("\u200b\ufeff", Empty(), id="invisible-only"),
    pytest.param("Bonjour", LoneWord("Bonjour"), id="lone-word"),
    pytest.param("  merci!  ", LoneWord("merci!"), id="lone-word-trimmed"),
    pytest.param("👍", LoneWord("👍"), id="lone-emoji"),
    pytest.param("🔥🔥🔥 🎉🎉🎉", Unknown("🔥🔥🔥 🎉🎉🎉"), id="emoji-words"),
    pytest.param("🔥" * 1600, LoneWord("🔥" * 1600), id="emoji-storm-at-limit"),
    pytest.param("🔥" * 1601, TooLong(1601), id="emoji-storm-too-long"),
    pytest.param("https://bistro.example/menu", LoneWord("https://bistro.example/menu"), id="lone-url"),
    pytest.param("12:30 on ferme", Unknown("12:30 on ferme"), id="time-first"),
    # --- scheduled posts (the date grammar has its own table: tests/scheduling/test_grammar.py)
    pytest.param(
        "PUBLIER demain 11h Menu du jour : potage",
        Schedule(Spec(t(11), relative=1, ampm=True), "Menu du jour : potage", keyword_lang=FR),
        id="schedule-tomorrow",
    ),
    pytest.param(
        "POST Fri 5:30pm Jazz",
        Schedule(Spec(t(17, 30), weekday=4, ampm=True), "Jazz", keyword_lang=EN),
        id="schedule-en",
    ),
    pytest.param(
        "PUBLIER: à 11h Soupe", Schedule(Spec(t(11), ampm=True), "Soupe", keyword_lang=FR), id="schedule-time-alone"
    ),
    pytest.param(
        "CHAQUE lundi 11h Menu",
        Schedule(Spec(t(11), weekday=0, weekly=True, ampm=True), "Menu", keyword_lang=FR),
        id="schedule-weekly",
    ),
    pytest.param(
        "EVERY Monday 11am Soup",
        Schedule(Spec(t(11), weekday=0, weekly=True, ampm=True), "Soup", keyword_lang=EN),
        id="schedule-weekly-en",
    ),
    pytest.param(
        "PUBLIER chaque vendredi midi Poisson",
        Schedule(Spec(t(12), weekday=4, weekly=True, ampm=True), "Poisson", keyword_lang=FR),
        id="schedule-weekly-after-publier",
    ),
    pytest.param("PUBLIER Demain on ferme", Publish("Demain on ferme", keyword_lang=FR), id="day-without-time-is-text"),
    pytest.param("PUBLIER 11h30 on ouvre", Publish("11h30 on ouvre", keyword_lang=FR), id="bare-time-is-text"),
    pytest.param("Chaque jour une soupe", Unknown("Chaque jour une soupe"), id="chaque-prose"),
    pytest.param("Every day is a good day", Unknown("Every day is a good day"), id="every-prose"),
    pytest.param("CHAQE lundi 11h Menu", Unknown("CHAQE lundi 11h Menu"), id="chaque-typo-not-guessed"),
    pytest.param(
        "PUBLIR demain 11h Menu",
        Suggest(Schedule(Spec(t(11), relative=1, ampm=True), "Menu", keyword_lang=FR), "PUBLIR"),
        id="schedule-typo-suggested",
    ),
    pytest.param("PROG", Scheduled(keyword_lang=FR), id="prog"),
    pytest.param("prog svp", Scheduled(keyword_lang=FR), id="prog-polite"),
    pytest.param("SCHEDULED", Scheduled(keyword_lang=EN), id="scheduled"),
    pytest.param("Prog rock ce soir", Unknown("Prog rock ce soir"), id="prog-prose"),
    pytest.param("Schedule change: closed Monday", Unknown("Schedule change: closed Monday"), id="schedule-prose"),
    pytest.param("ANNULER P14", Unschedule(14, keyword_lang=FR), id="annuler-p"),
    pytest.param("annuler p 14", Unschedule(14, keyword_lang=FR), id="annuler-p-spaced"),
    pytest.param("UNDO P#14", Unschedule(14, keyword_lang=EN), id="undo-p-hash"),
    pytest.param("EFFACER P3", Unschedule(3, keyword_lang=FR), id="effacer-p"),
    pytest.param("ANNULER P0", Invalid("ANNULER", "bad_number", keyword_lang=FR), id="annuler-p0"),
    pytest.param("ANNULER Pizza", Invalid("ANNULER", "bad_number", keyword_lang=FR), id="annuler-word"),
    pytest.param("…", LoneWord("…"), id="ellipsis"),
    pytest.param('"', LoneWord('"'), id="lone-quote"),
    pytest.param("x" * MAX_TEXT, LoneWord("x" * MAX_TEXT), id="at-limit"),
    pytest.param("x" * (MAX_TEXT + 1), TooLong(MAX_TEXT + 1), id="over-limit"),
    pytest.param("PUBLIER " + "a" * (MAX_TEXT - 8), Publish("a" * (MAX_TEXT - 8), keyword_lang=FR), id="publish-limit"),
    pytest.param("PUBLIER " + "a" * (MAX_TEXT - 7), TooLong(MAX_TEXT + 1), id="publish-over-limit"),
    pytest.param("  " + "a" * MAX_TEXT + "  \n", LoneWord("a" * MAX_TEXT), id="limit-counts-after-trim"),
]


@pytest.mark.parametrize(("text", "expected"), PARSE_TABLE)
def test_parse(text: str, expected: ParseResult) -> None:
    assert parse(text) == expected


def test_table_is_large_and_ids_unique() -> None:
    ids = [p.id for p in PARSE_TABLE]
    assert len(ids) >= 150
    assert len(ids) == len(set(ids))


# Every exact keyword, typed the ways phones type it, must still be that command.
KEYWORD_EXAMPLES = [
    ("PUBLIER x", Publish),
    ("POST x", Publish),
    ("PUBLISH x", Publish),
    ("ANNULER", Undo),
    ("UNDO", Undo),
    ("EFFACER 2", Undo),
    ("SUPPRIMER 2", Undo),
    ("DELETE 2", Undo),
    ("ÉTAT", Status),
    ("STATUT", Status),
    ("STATUS", Status),
    ("AIDE", Help),
    ("HELP", Help),
    ("INFO", Help),
    ("ARRÊT", Stop),
    ("STOP", Stop),
    ("STOPALL", Stop),
    ("UNSUBSCRIBE", Stop),
    ("CANCEL", Stop),
    ("END", Stop),
    ("QUIT", Stop),
    ("START", Start),
    ("UNSTOP", Start),
    ("DÉBUT", Start),
    ("LANGUE EN", Language),
    ("LANGUAGE FR", Language),
    ("OUI", Confirm),
    ("YES", Confirm),
    ("NON", Confirm),
    ("NO", Confirm),
    ("PIN 4821", Pin),
    ("NIP 4821", Pin),
    ("R 4 x", Reply),
    ("RÉPONDRE 4 x", Reply),
    ("REPLY 4 x", Reply),
    ("J 4", Like),
    ("J'AIME 4", Like),
    ("LIKE 4", Like),
    ("MENTIONS", Mentions),
    ("M", Mentions),
    ("HEURES 8H 17H", Hours),
    ("HOURS 8AM 5PM", Hours),
    ("PAUSE 3J", Pause),
    ("PAUSE 3D", Pause),
    ("REPRISE", Resume),
    ("RESUME", Resume),
    ("ALERTES OUI", Alerts),
    ("ALERTS ON", Alerts),
    ("PUBLIER DEMAIN 11H X", Schedule),
    ("CHAQUE LUNDI 11H X", Schedule),
    ("EVERY MONDAY 11AM X", Schedule),
    ("PROG", Scheduled),
    ("SCHEDULED", Scheduled),
    ("ANNULER P4", Unschedule),
    ("UNDO P4", Unschedule),
]


def _with_keyword(change: Callable[[str], str]) -> Callable[[str], str]:
    """Apply ``change`` to the keyword only: punctuation goes right after it, where people type it."""

    def apply(text: str) -> str:
        keyword, space, rest = text.partition(" ")
        return change(keyword) + space + rest

    return apply


VARIANTS = [
    pytest.param(str.lower, id="lower"),
    pytest.param(str.title, id="title"),
    pytest.param(_with_keyword(lambda k: k + "!"), id="bang"),
    pytest.param(_with_keyword(lambda k: k + ":"), id="colon"),
    pytest.param(_with_keyword(lambda k: "*" + k + "*"), id="stars"),
    pytest.param(lambda s: " \n" + s + " \n", id="spaces"),
    pytest.param(lambda s: "“" + s + "”", id="curly-quotes"),
]


@pytest.mark.parametrize(("text", "kind"), KEYWORD_EXAMPLES, ids=[e[0] for e in KEYWORD_EXAMPLES])
@pytest.mark.parametrize("variant", VARIANTS)
def test_every_keyword_survives_case_and_punctuation(text: str, kind: type, variant: Callable[[str], str]) -> None:
    typed = variant(text)
    assert isinstance(parse(typed), kind), typed


@pytest.mark.parametrize("typed", ["PUB x", "PUB: x", "pub: x", "Pub. x", "*pub* x", "“pub x”", '"Pub" x', "pub"])
def test_pub_is_the_alias_in_capitals_or_set_apart_by_punctuation(typed: str) -> None:
    assert isinstance(parse(typed), Publish), typed


@pytest.mark.parametrize("typed", ["pub x", "Pub x", "Pub quiz tonight at 7!", "pub ouvert ce soir"])
def test_pub_typed_as_a_word_is_text_never_a_post_missing_its_first_word(typed: str) -> None:
    assert parse(typed) == Unknown(typed)


def test_keyword_without_accents_is_the_same_command() -> None:
    for accented, plain in [("ARRÊT", "ARRET"), ("DÉBUT", "DEBUT"), ("ÉTAT", "ETAT"), ("RÉPONDRE 4 x", "REPONDRE 4 x")]:
        assert parse(accented) == parse(plain)


def test_pin_code_never_appears_in_repr() -> None:
    pin = parse("PIN 4821")
    assert pin == Pin("4821")
    assert "4821" not in repr(pin)


def test_publish_text_is_a_slice_of_the_original() -> None:
    message = "PUBLIER  Crème brûlée 🍮\r\nÀ ce soir  "
    result = parse(message)
    assert isinstance(result, Publish)
    assert result.text in message


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("4: merci!", [Reply(4, "merci!")], id="number-colon"),
        pytest.param("4:merci", [Reply(4, "merci")], id="number-colon-glued"),
        pytest.param("4 : merci", [Reply(4, "merci")], id="number-space-colon"),
        pytest.param("#4 merci", [Reply(4, "merci")], id="hash"),
        pytest.param("#4: merci", [Reply(4, "merci")], id="hash-colon"),
        pytest.param("#4 - merci", [Reply(4, "merci")], id="hash-dash"),
        pytest.param("#4. merci", [Reply(4, "merci")], id="hash-dot"),
        pytest.param("R 4 merci!", [Reply(4, "merci!")], id="r"),
        pytest.param("Répondre 4 merci", [Reply(4, "merci", keyword_lang=FR)], id="repondre"),
        pytest.param("REPLY 4 thanks", [Reply(4, "thanks", keyword_lang=EN)], id="reply"),
        pytest.param(
            "4: Merci, à bientôt!\n5: Désolés pour l’attente 🙏\r\nR 6 Oui, ouvert lundi",
            [Reply(4, "Merci, à bientôt!"), Reply(5, "Désolés pour l’attente 🙏"), Reply(6, "Oui, ouvert lundi")],
            id="several",
        ),
        pytest.param("Bonjour,\n\n4: merci\n\nMarie", [Reply(4, "merci")], id="greeting-and-name-skipped"),
        pytest.param("> 4: merci", [], id="quoted-line-ignored"),
        pytest.param(">4: merci", [], id="quoted-line-no-space"),
        pytest.param("12:30 on ferme", [], id="time-is-not-an-answer"),
        pytest.param("4 merci", [], id="bare-number-is-not-an-answer"),
        pytest.param("4:", [], id="no-text"),
        pytest.param("#4", [], id="hash-no-text"),
        pytest.param("0: merci", [], id="zero"),
        pytest.param("1234567: merci", [], id="huge-number"),
        pytest.param("PUBLIER Menu", [], id="other-command-ignored"),
        pytest.param("R merci", [], id="r-without-number-ignored"),
        pytest.param("", [], id="empty"),
    ],
)
def test_parse_email_reply_lines(text: str, expected: list[Reply]) -> None:
    assert parse_email_reply_lines(text) == expected


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        pytest.param("PUBLIR", "PUBLIER", True, id="deletion"),
        pytest.param("PUBLIEER", "PUBLIER", True, id="insertion"),
        pytest.param("PUBLIEZ", "PUBLIER", True, id="substitution"),
        pytest.param("PUBILER", "PUBLIER", True, id="transposition"),
        pytest.param("PUBLIER", "PUBLIER", False, id="equal"),
        pytest.param("PUBLICATIONS", "PUBLIER", False, id="far"),
        pytest.param("PUBIELR", "PUBLIER", False, id="two-edits"),
        pytest.param("ABCD", "BADC", False, id="two-swaps"),
        pytest.param("", "A", True, id="empty-insertion"),
    ],
)
def test_one_edit_apart(a: str, b: str, expected: bool) -> None:
    assert one_edit_apart(a, b) is expected
    assert one_edit_apart(b, a) is expected


# --- Properties ---------------------------------------------------------------------------------

SEPARATORS = ":-–—.,;>"


@settings(max_examples=400, deadline=200)
@given(st.text(max_size=2000))
def test_parse_never_raises_and_is_quick(text: str) -> None:
    started = clock.perf_counter()
    parse(text)
    parse_email_reply_lines(text)
    assert clock.perf_counter() - started < 0.1


@settings(max_examples=300, deadline=200)
@given(st.sampled_from([e[0].split()[0] for e in KEYWORD_EXAMPLES] + ["R", "M2", "?", "PIN"]), st.text(max_size=300))
def test_parse_never_raises_after_a_keyword(keyword: str, rest: str) -> None:
    parse(keyword + " " + rest)
    parse(keyword + rest)


@settings(max_examples=300, deadline=200)
@given(
    st.text(max_size=500).filter(
        lambda s: (not s.strip()[:1] or s.strip()[0] not in SEPARATORS) and read_when(s.strip())[0] is None
    )
)
def test_publish_keeps_text_exactly(text: str) -> None:
    """Any text that does not start with a day and a time (a schedule: tests/scheduling/test_grammar.py)."""
    assert parse("PUBLIER " + text) == Publish(text.strip(), keyword_lang=FR)
    assert parse("POST: " + text) == Publish(text.strip(), keyword_lang=EN)


@settings(max_examples=300, deadline=200)
@given(
    st.integers(min_value=1, max_value=999_999),
    st.text(min_size=1, max_size=500).filter(lambda s: s.strip() and s.strip()[0] not in SEPARATORS),
)
def test_reply_keeps_text_exactly(number: int, text: str) -> None:
    assert parse(f"R {number} {text}") == Reply(number, text.strip())


@settings(max_examples=200, deadline=200)
@given(st.text(alphabet=st.characters(categories=["Lu", "Ll"]), min_size=1, max_size=1))
def test_single_letters_are_never_suggestions(letter: str) -> None:
    assert not isinstance(parse(letter + " 4 merci"), Suggest)
    assert not isinstance(parse(letter), Suggest)


def test_huge_input_is_refused_without_work() -> None:
    started = clock.perf_counter()
    assert parse("PUBLIER " + "é" * 1_000_000) == TooLong(1_000_008)
    assert parse("a" * 1_000_000) == TooLong(1_000_000)
    assert clock.perf_counter() - started < 0.5


def test_every_command_has_a_name_and_every_spelling_is_a_keyword() -> None:
    """One vocabulary: the names the registry, help topics and catalogue use, spelled with the parser's keywords."""
    from typing import get_args

    from app.commands import parser as p

    assert set(p.NAMES) == set(get_args(p.Command))
    assert set(p.SPELLING) == set(get_args(p.CommandName))
    for fr, en in p.SPELLING.values():
        assert {fr, en} <= set(p._KEYWORDS)
