"""Every message Ardoise sends to owners, French and English side by side.

Rules (checked by tests/test_catalogue.py for every entry, with realistic values): GSM-7 only and one
SMS segment unless ``SEGMENTS`` says otherwise. Keep é è à ù É (they are GSM-7); write e for ê, c for ç,
' for ’. Placeholders use ``str.format``.
"""

from __future__ import annotations

from typing import Literal

Lang = Literal["fr", "en"]

MESSAGES: dict[str, dict[str, str]] = {
    # Receipts: "Publie #12: Page OK, Bluesky OK, Mastodon en attente"
    "receipt": {"fr": "Publie #{number}: {parts}", "en": "Posted #{number}: {parts}"},
    "receipt_none": {"fr": "#{number} enregistre, aucun compte actif.", "en": "#{number} saved, no active account."},
    "st_ok": {"fr": "OK", "en": "OK"},
    "st_pending": {"fr": "en attente", "en": "pending"},
    "st_failed": {"fr": "ECHEC", "en": "FAILED"},
    "st_skipped": {"fr": "ignore", "en": "skipped"},
    "st_deleted": {"fr": "retire", "en": "removed"},
    "followup_failed": {
        "fr": "#{number} {network}: echec ({reason}). Rien a faire, votre conseiller est avise.",
        "en": "#{number} {network}: failed ({reason}). Nothing to do, your adviser was told.",
    },
    # The {reason} of followup_failed (app.posts.tasks.reason_key)
    "why_too_long": {"fr": "trop long", "en": "too long"},
    "why_photo": {"fr": "photo refusee", "en": "photo refused"},
    "why_unreachable": {"fr": "reseau indisponible", "en": "network unavailable"},
    "why_refused": {"fr": "refuse par le reseau", "en": "refused by the network"},
    "account_broken": {
        "fr": "{network} deconnecte: votre conseiller est avise. Vos autres comptes marchent.",
        "en": "{network} disconnected: your adviser was told. Your other accounts still work.",
    },
    "undo_receipt": {"fr": "#{number} retire: {parts}", "en": "#{number} removed: {parts}"},
    "undo_none": {"fr": "Aucune publication a retirer.", "en": "No post to remove."},
    "undo_unknown": {"fr": "Publication #{number} introuvable.", "en": "Post #{number} not found."},
    "undo_already": {"fr": "#{number} est deja retire.", "en": "#{number} is already removed."},
    # Scheduled posts (app/scheduling): "Programmé #14 pour ven. 12 déc. 17 h 30"; {when} by app/scheduling/words.py
    "scheduled": {"fr": "Programmé #{number} pour {when}", "en": "Scheduled #{number} for {when}"},
    "scheduled_weekly": {
        "fr": "Programmé #{number} {when}, 1re fois {first}",
        "en": "Scheduled #{number} {when}, first {first}",
    },
    "every_weekday": {"fr": "chaque {weekday} à {time}", "en": "every {weekday} at {time}"},
    "day_today": {"fr": "aujourd'hui", "en": "today"},
    "day_tomorrow": {"fr": "demain", "en": "tomorrow"},
    "scheduled_list": {"fr": "Programmé:\n{items}", "en": "Scheduled:\n{items}"},
    "scheduled_more": {"fr": "\n+{count} autres", "en": "\n+{count} more"},
    "scheduled_none": {
        "fr": "Rien de programmé. Ex: PUBLIER demain 11h Menu du jour",
        "en": "Nothing scheduled. E.g. POST tomorrow 11am Today's special",
    },
    "unscheduled": {
        "fr": "P{number} annulée ({when}): rien ne sera publié.",
        "en": "P{number} cancelled ({when}): nothing will be posted.",
    },
    "unschedule_unknown": {
        "fr": "Aucune publication programmée P{number}. PROG pour la liste.",
        "en": "No scheduled post P{number}. SCHEDULED for the list.",
    },
    "unschedule_already": {"fr": "P{number} est déjà annulée.", "en": "P{number} is already cancelled."},
    "unschedule_published": {
        "fr": "#{number} est déjà publiée: ANNULER {number} la retire.",
        "en": "#{number} is already out: UNDO {number} removes it.",
    },
    "schedule_past": {
        "fr": "Moment déjà passé ({when}): rien n'est programmé.",
        "en": "That time has passed ({when}): nothing was scheduled.",
    },
    "schedule_too_far": {
        "fr": "Trop loin: Ardoise programme jusqu'à un an d'avance.",
        "en": "Too far: Ardoise schedules up to a year ahead.",
    },
    "schedule_bad_date": {
        "fr": "Cette date n'existe pas: rien n'est programmé.",
        "en": "That date does not exist: nothing was scheduled.",
    },
    "help": {
        "fr": "Ardoise: PUBLIER texte | ANNULER n | ETAT | M (mentions) | R n texte | LANGUE EN | ARRET pour ne plus "
        "recevoir de SMS",
        "en": "Ardoise: POST text | UNDO n | STATUS | M (mentions) | R n text | LANGUAGE FR | STOP to get no more "
        "texts",
    },
    # AIDE <command> / HELP <command> (parser.Help.topic): one SMS on that command
    "help_publish": {
        "fr": "PUBLIER texte: publie sur tous vos comptes, photo par MMS possible. Sans mot-cle, Ardoise demande OUI."
        " Ex: PUBLIER Menu du jour",
        "en": "POST text: posts to all your accounts, photo by MMS welcome. Without a keyword Ardoise asks YES first."
        " E.g. POST Today's special",
    },
    "help_undo": {
        "fr": "ANNULER: retire votre derniere publication. ANNULER 12: retire la #12 partout. Avec un PIN, il est"
        " demande.",
        "en": "UNDO: removes your last post. UNDO 12: removes #12 everywhere. With a PIN, Ardoise asks for it.",
    },
    "help_status": {
        "fr": "ETAT: l'etat de vos comptes et les publications en cours.",
        "en": "STATUS: how your accounts are and which posts are still going out.",
    },
    "help_stop": {
        "fr": "ARRET: plus aucun SMS d'Ardoise. DEBUT pour revenir.",
        "en": "STOP: no more texts from Ardoise. START to come back.",
    },
    "help_start": {
        "fr": "DEBUT: les SMS d'Ardoise reprennent apres un ARRET.",
        "en": "START: texts from Ardoise again after a STOP.",
    },
    "help_language": {
        "fr": "LANGUE EN: reponses en anglais. LANGUE FR: en francais.",
        "en": "LANGUAGE FR: replies in French. LANGUAGE EN: in English.",
    },
    "help_confirm": {
        "fr": "OUI ou NON: repond a la derniere question d'Ardoise (30 min).",
        "en": "YES or NO: answers Ardoise's last question (30 min).",
    },
    "help_pin": {
        "fr": "PIN 1234: votre code, quand Ardoise le demande (ANNULER, telephone inactif 30 jours).",
        "en": "PIN 1234: your code, when Ardoise asks for it (UNDO, a phone silent for 30 days).",
    },
    "help_reply": {
        "fr": "R 4 texte: repond a la mention #4 sur son reseau. M pour voir les mentions.",
        "en": "R 4 text: answers mention #4 on its network. M to see the mentions.",
    },
    "help_like": {
        "fr": "J 4: aime la mention #4 sur son reseau, quand il le permet.",
        "en": "LIKE 4: likes mention #4 on its network, where it allows it.",
    },
    "help_mentions": {
        "fr": "M: les nouvelles mentions et avis, numerotes. M2: la suite. R n texte pour repondre.",
        "en": "M: new mentions and reviews, numbered. M2: the next ones. R n text to answer.",
    },
    "help_hours": {
        "fr": "HEURES 8h 17h: les heures de vos resumes de mentions.",
        "en": "HOURS 8am 5pm: when your mention digests arrive.",
    },
    "help_pause": {
        "fr": "PAUSE 3j: plus de resumes pendant 3 jours. REPRISE pour reprendre.",
        "en": "PAUSE 3d: no digests for 3 days. RESUME to start again.",
    },
    "help_resume": {
        "fr": "REPRISE: les resumes de mentions reprennent apres une PAUSE.",
        "en": "RESUME: mention digests start again after a PAUSE.",
    },
    "help_alerts": {
        "fr": "ALERTES OUI: questions et avis de 3* ou moins envoyes tout de suite. ALERTES NON pour arreter.",
        "en": "ALERTS ON: questions and reviews of 3* or less sent at once. ALERTS OFF to stop.",
    },
    "help_schedule": {
        "fr": "PUBLIER demain 11h texte: publie plus tard. CHAQUE lundi 11h texte: chaque semaine. PROG: la liste.",
        "en": "POST tomorrow 11am text: posts later. EVERY Monday 11am text: every week. SCHEDULED: the list.",
    },
    "help_scheduled": {
        "fr": "PROG: vos publications programmées. ANNULER P14: annule la P14 avant son heure.",
        "en": "SCHEDULED: your scheduled posts. UNDO P14: cancels P14 before its time.",
    },
    "help_short": {
        "fr": "Commande inconnue. Ex: PUBLIER Menu du jour. AIDE pour la liste.",
        "en": "Unknown command. E.g. POST Today's special. HELP for the list.",
    },
    "invalid": {"fr": "{keyword}: {reason}. AIDE pour l'aide.", "en": "{keyword}: {reason}. HELP for help."},
    "stop": {
        "fr": "Ardoise: vous ne recevrez plus de SMS. Texto DEBUT pour revenir.",
        "en": "Ardoise: you will get no more texts. Text START to come back.",
    },
    "start": {
        "fr": "Ardoise: SMS reactives. AIDE pour les commandes.",
        "en": "Ardoise: texts are back on. HELP for commands.",
    },
    "confirm_publish": {"fr": "Publier ce texte? Repondez OUI (30 min).", "en": "Post this? Reply YES (30 min)."},
    "confirm_photo": {
        "fr": "Publier cette photo? Repondez OUI (30 min).",
        "en": "Post this photo? Reply YES (30 min).",
    },
    "confirm_suggest": {
        "fr": "Vouliez-vous dire {keyword}? Repondez OUI pour confirmer.",
        "en": "Did you mean {keyword}? Reply YES to confirm.",
    },
    "nothing_to_confirm": {"fr": "Rien a confirmer.", "en": "Nothing to confirm."},
    "cancelled": {"fr": "Annule, rien n'est publie.", "en": "Cancelled, nothing was posted."},
    "pin_needed": {"fr": "Code requis: repondez PIN et votre code.", "en": "PIN needed: reply PIN and your code."},
    "pin_wrong": {"fr": "PIN incorrect.", "en": "Wrong PIN."},
    "pin_none": {"fr": "Aucune action en attente d'un PIN.", "en": "No action is waiting for a PIN."},
    "language": {
        "fr": "Langue: francais. LANGUAGE EN for English.",
        "en": "Language: English. LANGUE FR pour le francais.",
    },
    "rate_limited": {
        "fr": "Trop de messages. Reessayez dans une heure.",
        "en": "Too many messages. Please try again in an hour.",
    },
    "too_long": {
        "fr": "Message trop long ({length} car., max 1600). Rien n'est publie.",
        "en": "Message too long ({length} chars, max 1600). Nothing was posted.",
    },
    "too_many_media": {
        "fr": "Trop de photos ({count}, max 10). Rien n'est publie.",
        "en": "Too many photos ({count}, max 10). Nothing was posted.",
    },
    "media_failed": {
        "fr": "Photo illisible ou trop lourde. Rien n'est publie.",
        "en": "Photo unreadable or too large. Nothing was posted.",
    },
    "empty_post": {
        "fr": "Rien a publier: ajoutez un texte ou une photo.",
        "en": "Nothing to post: add text or a photo.",
    },
    "which_business": {"fr": "Pour quelle entreprise? Repondez {choices}", "en": "For which business? Reply {choices}"},
    "status": {"fr": "Etat: {accounts}.{pending}", "en": "Status: {accounts}.{pending}"},
    "status_pending": {"fr": " En cours: {posts}.", "en": " Going out: {posts}."},
    "acct_ok": {"fr": "OK", "en": "OK"},
    "acct_broken": {"fr": "deconnecte", "en": "disconnected"},
    "acct_disabled": {"fr": "desactive", "en": "disabled"},
}

# Entries allowed more than one segment (every other message to an owner fits one SMS).
SEGMENTS: dict[str, int] = {
    # PROG fills the member's digest budget (2 segments by default); app/scheduling/commands.py fits it.
    "scheduled_list": 2,
}

# Short network names for receipts: four of them must fit one GSM-7 segment.
NETWORK_LABELS: dict[str, str] = {
    "page": "Page",
    "bluesky": "Bluesky",
    "mastodon": "Mastodon",
    "facebook": "Facebook",
    "instagram": "Instagram",
    "google": "Google",
    "x": "X",
}


def t(key: str, lang: str, **values: object) -> str:
    """The message ``key`` in ``lang`` (French when the language is unknown), filled with ``values``."""
    entry = MESSAGES[key]
    template = entry.get(lang) or entry["fr"]
    return template.format(**values)


def label(network: str) -> str:
    return NETWORK_LABELS.get(network, network.capitalize())


MESSAGES.update(
    {
        "not_yet": {
            "fr": "Cette commande arrive bientot. AIDE pour les commandes actuelles.",
            "en": "This command is coming soon. HELP for the current commands.",
        },
        "bad_missing_number": {"fr": "il manque le numero", "en": "the number is missing"},
        "bad_bad_number": {"fr": "numero invalide", "en": "invalid number"},
        "bad_missing_text": {"fr": "il manque le texte", "en": "the text is missing"},
        "bad_extra_text": {"fr": "sans texte svp", "en": "no text please"},
        "bad_missing_pin": {"fr": "il manque le code", "en": "the code is missing"},
        "bad_bad_pin": {"fr": "le code a 4 a 8 chiffres", "en": "the code has 4 to 8 digits"},
        "bad_missing_language": {"fr": "ecrivez LANGUE FR ou LANGUE EN", "en": "write LANGUAGE EN or LANGUAGE FR"},
        "bad_bad_language": {"fr": "ecrivez LANGUE FR ou LANGUE EN", "en": "write LANGUAGE EN or LANGUAGE FR"},
        "bad_missing_time": {"fr": "ex: HEURES 8h 17h", "en": "e.g. HOURS 8am 5pm"},
        "bad_bad_time": {"fr": "heure invalide, ex: HEURES 8h 17h", "en": "invalid time, e.g. HOURS 8am 5pm"},
        "bad_too_many_times": {"fr": "4 heures au plus", "en": "4 times at most"},
        "bad_bad_duration": {"fr": "ex: PAUSE 3j", "en": "e.g. PAUSE 3d"},
        "bad_missing_value": {"fr": "ecrivez OUI ou NON", "en": "write ON or OFF"},
        "bad_bad_value": {"fr": "ecrivez OUI ou NON", "en": "write ON or OFF"},
        "bad_bad_page": {"fr": "page invalide", "en": "invalid page"},
    }
)

# Email (app/email): short lines composed into plain-text mails; the same GSM-7, one-segment rules hold.
MESSAGES.update(
    {
        "email_footer": {
            "fr": "Ardoise: repondez simplement à ce courriel, au-dessus de la ligne. AIDE pour les commandes.",
            "en": "Ardoise: just reply to this email, above the line. HELP for the commands.",
        },
        "email_subject_receipt": {"fr": "Publication #{number}", "en": "Post #{number}"},
        "email_subject_undo": {"fr": "Publication #{number} retiree", "en": "Post #{number} removed"},
        "email_subject_confirm": {"fr": "Confirmez votre courriel", "en": "Please confirm your email"},
        "email_confirm_sender": {
            "fr": "Nous avons recu un courriel en votre nom sans pouvoir verifier qu'il vient de vous. Repondez OUI "
            "pour le traiter, sinon ignorez ce message.",
            "en": "We got an email in your name but could not check that it came from you. Reply YES to act on it, "
            "or ignore this message.",
        },
        "email_confirm_unsure": {
            "fr": "Nous ne sommes pas surs d'avoir compris votre reponse. Repondez OUI pour confirmer ce texte:",
            "en": "We are not sure we understood your reply. Reply YES to confirm this text:",
        },
        "email_quoted_only": {
            "fr": "Votre reponse ne contient aucun texte nouveau. Ecrivez au-dessus de la ligne.",
            "en": "Your reply has no new text. Please write above the line.",
        },
        "email_bad_attachment": {
            "fr": "{names}: seules les photos JPEG, PNG ou HEIC sont acceptees. Rien n'est publie.",
            "en": "{names}: only JPEG, PNG or HEIC photos are accepted. Nothing was posted.",
        },
        "email_bad_image": {
            "fr": "{names}: photo illisible. Rien n'est publie.",
            "en": "{names}: unreadable photo. Nothing was posted.",
        },
        "email_digest_soon": {
            "fr": "Les reponses aux mentions par courriel arrivent bientot. Rien n'est envoye pour l'instant.",
            "en": "Answering mentions by email is coming soon. Nothing was sent for now.",
        },
        "email_digest_subject": {
            "fr": "{business}: {count} nouvelles mentions",
            "en": "{business}: {count} new mentions",
        },
        "email_digest_howto": {
            "fr": "Pour repondre, ecrivez une ligne par reponse, ex: 4: Merci!",
            "en": "To answer, write one line per answer, e.g. 4: Thank you!",
        },
    }
)

MESSAGES.update(
    {
        "no_mentions": {
            "fr": "Aucune nouvelle mention.",
            "en": "No new mentions.",
        },
        "mention_unknown": {
            "fr": "Mention #{number} introuvable (7 jours max).",
            "en": "Mention #{number} not found (7 days max).",
        },
        "reply_receipt": {
            "fr": "Reponse a #{number} sur {network}: {status}",
            "en": "Reply to #{number} on {network}: {status}",
        },
        "like_done": {
            "fr": "J'aime envoye a #{number} sur {network}.",
            "en": "Liked #{number} on {network}.",
        },
        "like_failed": {
            "fr": "J'aime impossible sur {network} ({reason}).",
            "en": "Could not like on {network} ({reason}).",
        },
        "like_unsupported": {
            "fr": "{network} ne permet pas les J'aime.",
            "en": "{network} does not allow likes.",
        },
        "hours_set": {
            "fr": "Resumes a {hours}.",
            "en": "Digests at {hours}.",
        },
        "paused": {
            "fr": "Resumes en pause jusqu'au {date}. REPRISE pour reprendre.",
            "en": "Digests paused until {date}. RESUME to restart.",
        },
        "resumed": {
            "fr": "Resumes repris.",
            "en": "Digests resumed.",
        },
        "alerts_on": {
            "fr": "Alertes immediates activees (questions, avis 3* et moins).",
            "en": "Instant alerts on (questions, reviews of 3* or less).",
        },
        "alerts_off": {
            "fr": "Alertes immediates desactivees.",
            "en": "Instant alerts off.",
        },
    }
)
