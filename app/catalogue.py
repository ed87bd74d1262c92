"""Every message Ardoise sends to owners, French and English side by side.

French is written in full (é, ê, ç, ’ ...): email sends it as written, and the SMS path
(``app.messages.service.queue_sms`` through ``app.kit.sms_text.to_gsm7``) keeps every accent GSM-7 has
(é è à ù ì ò É Ç ä ö ñ ü ...) and writes only the others plainly (ê -> e, ç -> c, û -> u). Rules checked by
tests/test_catalogue.py for every entry, with realistic values: the SMS form is GSM-7, loses no accent that GSM-7
carries, and fits one SMS segment unless ``SEGMENTS`` says otherwise. Placeholders use ``str.format``.
"""

from __future__ import annotations

from typing import Literal

# Network names in receipts (four of them must fit one GSM-7 segment) come from the one table, the registry's.
from app.networks.registry import label as label

Lang = Literal["fr", "en"]

MESSAGES: dict[str, dict[str, str]] = {
    # Receipts: "Publié #12: Page OK, Bluesky OK, Mastodon en attente"
    "receipt": {"fr": "Publié #{number}: {parts}", "en": "Posted #{number}: {parts}"},
    "receipt_none": {"fr": "#{number} enregistré, aucun compte actif.", "en": "#{number} saved, no active account."},
    "st_ok": {"fr": "OK", "en": "OK"},
    "st_pending": {"fr": "en attente", "en": "pending"},
    # A failed delivery names its reason (why_*); a disconnected account says so, once per receipt with the note.
    "st_disconnected": {"fr": "déconnecté", "en": "disconnected"},
    "st_disconnected_note": {"fr": "déconnecté (conseiller avisé)", "en": "disconnected (adviser told)"},
    "st_not_removed": {"fr": "non retiré", "en": "not removed"},
    "st_skipped": {"fr": "ignoré", "en": "skipped"},
    "st_deleted": {"fr": "retiré", "en": "removed"},
    "followup_failed": {
        "fr": "#{number} {network}: échec ({reason}). Rien à faire, votre conseiller est avisé.",
        "en": "#{number} {network}: failed ({reason}). Nothing to do, your adviser was told.",
    },
    # The {reason} of followup_failed and of a failed delivery in a receipt (app.posts.service.failure_key)
    "why_too_long": {"fr": "trop long", "en": "too long"},
    "why_photo": {"fr": "photo refusée", "en": "photo refused"},
    "why_unreachable": {"fr": "réseau indisponible", "en": "network unavailable"},
    "why_refused": {"fr": "refusé par le réseau", "en": "refused by the network"},
    "account_broken": {
        "fr": "{network} déconnecté: votre conseiller est avisé. Vos autres comptes marchent.",
        "en": "{network} disconnected: your adviser was told. Your other accounts still work.",
    },
    "undo_receipt": {"fr": "#{number} retiré: {parts}", "en": "#{number} removed: {parts}"},
    "undo_none": {"fr": "Aucune publication à retirer.", "en": "No post to remove."},
    "undo_unknown": {"fr": "Publication #{number} introuvable.", "en": "Post #{number} not found."},
    "undo_already": {"fr": "#{number} est déjà retiré.", "en": "#{number} is already removed."},
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
        "fr": "PUBLIER texte: publie sur tous vos comptes, photo par MMS possible. Sans mot-clé, Ardoise demande OUI."
        " Ex: PUBLIER Menu du jour",
        "en": "POST text: posts to all your accounts, photo by MMS welcome. Without a keyword Ardoise asks YES first."
        " E.g. POST Today's special",
    },
    "help_undo": {
        "fr": "ANNULER: retire votre dernière publication. ANNULER 12: retire la #12 partout. Avec un PIN, il est"
        " demandé.",
        "en": "UNDO: removes your last post. UNDO 12: removes #12 everywhere. With a PIN, Ardoise asks for it.",
    },
    "help_status": {
        "fr": "ETAT: l'état de vos comptes et les publications en cours.",
        "en": "STATUS: how your accounts are and which posts are still going out.",
    },
    "help_stop": {
        "fr": "ARRET: plus aucun SMS d'Ardoise. DEBUT pour revenir.",
        "en": "STOP: no more texts from Ardoise. START to come back.",
    },
    "help_start": {
        "fr": "DEBUT: les SMS d'Ardoise reprennent après un ARRET.",
        "en": "START: texts from Ardoise again after a STOP.",
    },
    "help_language": {
        "fr": "LANGUE EN: réponses en anglais. LANGUE FR: en français.",
        "en": "LANGUAGE FR: replies in French. LANGUAGE EN: in English.",
    },
    "help_confirm": {
        "fr": "OUI ou NON: répond à la dernière question d'Ardoise (30 min).",
        "en": "YES or NO: answers Ardoise's last question (30 min).",
    },
    "help_pin": {
        "fr": "PIN 1234: votre code, quand Ardoise le demande (ANNULER, téléphone inactif 30 jours).",
        "en": "PIN 1234: your code, when Ardoise asks for it (UNDO, a phone silent for 30 days).",
    },
    "help_reply": {
        "fr": "R 4 texte: répond à la mention #4 sur son réseau. M pour voir les mentions.",
        "en": "R 4 text: answers mention #4 on its network. M to see the mentions.",
    },
    "help_like": {
        "fr": "J 4: aime la mention #4 sur son réseau, quand il le permet.",
        "en": "LIKE 4: likes mention #4 on its network, where it allows it.",
    },
    "help_mentions": {
        "fr": "M: les nouvelles mentions et avis, numérotés. M2: la suite. R n texte pour répondre.",
        "en": "M: new mentions and reviews, numbered. M2: the next ones. R n text to answer.",
    },
    "help_hours": {
        "fr": "HEURES 8h 17h: les heures de vos résumés de mentions.",
        "en": "HOURS 8am 5pm: when your mention digests arrive.",
    },
    "help_pause": {
        "fr": "PAUSE 3j: plus de résumés pendant 3 jours. REPRISE pour reprendre.",
        "en": "PAUSE 3d: no digests for 3 days. RESUME to start again.",
    },
    "help_resume": {
        "fr": "REPRISE: les résumés de mentions reprennent après une PAUSE.",
        "en": "RESUME: mention digests start again after a PAUSE.",
    },
    "help_alerts": {
        "fr": "ALERTES OUI: questions et avis de 3* ou moins envoyés tout de suite. ALERTES NON pour arrêter.",
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
        "fr": "Ardoise: SMS réactivés. AIDE pour les commandes.",
        "en": "Ardoise: texts are back on. HELP for commands.",
    },
    # {quote}: the start of the text, at most 40 characters (app.commands.service.quote)
    "confirm_publish": {
        "fr": 'Publier "{quote}"? Répondez OUI ({minutes} min).',
        "en": 'Post "{quote}"? Reply YES ({minutes} min).',
    },
    "confirm_photo": {
        "fr": "Publier cette photo? Répondez OUI ({minutes} min).",
        "en": "Post this photo? Reply YES ({minutes} min).",
    },
    # A chalkboard photo without a caption, read by OCR (app/ocr/flow.py cuts {read} to fit one segment)
    "confirm_board": {
        "fr": "Lu: {read}. Publier? OUI / corrigez en répondant le texte",
        "en": "Read: {read}. Post it? YES / or correct it by replying the text",
    },
    "confirm_suggest": {
        "fr": "Vouliez-vous dire {keyword}? Répondez OUI pour confirmer.",
        "en": "Did you mean {keyword}? Reply YES to confirm.",
    },
    "nothing_to_confirm": {"fr": "Rien à confirmer.", "en": "Nothing to confirm."},
    "cancelled": {"fr": "Annulé, rien n'est publié.", "en": "Cancelled, nothing was posted."},
    "pin_needed": {"fr": "Code requis: répondez PIN et votre code.", "en": "PIN needed: reply PIN and your code."},
    "pin_wrong": {"fr": "PIN incorrect.", "en": "Wrong PIN."},
    "pin_dropped": {
        "fr": "PIN incorrect 3 fois: action annulée, rien n'est publié.",
        "en": "Wrong PIN 3 times: the action was dropped, nothing was posted.",
    },
    "pin_locked": {
        "fr": "Trop de PIN incorrects: PIN bloqué pour 24 h, rien n'est publié.",
        "en": "Too many wrong PINs: PIN locked for 24 h, nothing was posted.",
    },
    "pin_locked_owner": {
        "fr": "Ardoise: 5 PIN incorrects en 24 h pour {name}. Son PIN est bloqué 24 h.",
        "en": "Ardoise: 5 wrong PINs in 24 h for {name}. Their PIN is locked for 24 h.",
    },
    "pin_none": {"fr": "Aucune action en attente d'un PIN.", "en": "No action is waiting for a PIN."},
    "language": {
        "fr": "Langue: français. LANGUAGE EN for English.",
        "en": "Language: English. LANGUE FR pour le français.",
    },
    "rate_limited": {
        "fr": "Trop de messages. Réessayez à {time}.",
        "en": "Too many messages. Please try again at {time}.",
    },
    "too_long": {
        "fr": "Message trop long ({length} car., max 1600). Rien n'est publié.",
        "en": "Message too long ({length} chars, max 1600). Nothing was posted.",
    },
    "too_many_media": {
        "fr": "Trop de photos ({count}, max 10). Rien n'est publié.",
        "en": "Too many photos ({count}, max 10). Nothing was posted.",
    },
    "media_failed": {
        "fr": "Photo illisible ou trop lourde. Rien n'est publié.",
        "en": "Photo unreadable or too large. Nothing was posted.",
    },
    "empty_post": {
        "fr": "Rien à publier: ajoutez un texte ou une photo.",
        "en": "Nothing to post: add text or a photo.",
    },
    "which_business": {"fr": "Pour quelle entreprise? Répondez {choices}", "en": "For which business? Reply {choices}"},
    "status": {"fr": "État: {accounts}.{pending}", "en": "Status: {accounts}.{pending}"},
    "status_pending": {"fr": " En cours: {posts}.", "en": " Going out: {posts}."},
    "acct_ok": {"fr": "OK", "en": "OK"},
    "acct_broken": {"fr": "déconnecté", "en": "disconnected"},
    "acct_disabled": {"fr": "désactivé", "en": "disabled"},
}

# Entries allowed more than one segment (every other message to an owner fits one SMS).
SEGMENTS: dict[str, int] = {
    # PROG fills the member's digest budget (2 segments by default); app/scheduling/commands.py fits it.
    "scheduled_list": 2,
}


def t(key: str, lang: str, **values: object) -> str:
    """The message ``key`` in ``lang`` (French when the language is unknown), filled with ``values``."""
    entry = MESSAGES[key]
    template = entry.get(lang) or entry["fr"]
    return template.format(**values)


MESSAGES.update(
    {
        "not_yet": {
            "fr": "Cette commande arrive bientôt. AIDE pour les commandes actuelles.",
            "en": "This command is coming soon. HELP for the current commands.",
        },
        "bad_missing_number": {"fr": "il manque le numéro", "en": "the number is missing"},
        "bad_bad_number": {"fr": "numéro invalide", "en": "invalid number"},
        "bad_missing_text": {"fr": "il manque le texte", "en": "the text is missing"},
        "bad_extra_text": {"fr": "sans texte svp", "en": "no text please"},
        "bad_missing_pin": {"fr": "il manque le code", "en": "the code is missing"},
        "bad_bad_pin": {"fr": "le code a 4 à 8 chiffres", "en": "the code has 4 to 8 digits"},
        "bad_missing_language": {"fr": "écrivez LANGUE FR ou LANGUE EN", "en": "write LANGUAGE EN or LANGUAGE FR"},
        "bad_bad_language": {"fr": "écrivez LANGUE FR ou LANGUE EN", "en": "write LANGUAGE EN or LANGUAGE FR"},
        "bad_missing_time": {"fr": "ex: HEURES 8h 17h", "en": "e.g. HOURS 8am 5pm"},
        "bad_bad_time": {"fr": "heure invalide, ex: HEURES 8h 17h", "en": "invalid time, e.g. HOURS 8am 5pm"},
        "bad_too_many_times": {"fr": "4 heures au plus", "en": "4 times at most"},
        "bad_bad_duration": {"fr": "ex: PAUSE 3j", "en": "e.g. PAUSE 3d"},
        "bad_missing_value": {"fr": "écrivez OUI ou NON", "en": "write ON or OFF"},
        "bad_bad_value": {"fr": "écrivez OUI ou NON", "en": "write ON or OFF"},
        "bad_bad_page": {"fr": "page invalide", "en": "invalid page"},
    }
)

# Email (app/email): short lines composed into plain-text mails, sent in full French; the same budget rules hold.
MESSAGES.update(
    {
        "email_footer": {
            "fr": "Ardoise: répondez simplement à ce courriel, au-dessus de la ligne. AIDE pour les commandes.",
            "en": "Ardoise: just reply to this email, above the line. HELP for the commands.",
        },
        "email_subject_receipt": {"fr": "Publication #{number}", "en": "Post #{number}"},
        "email_subject_undo": {"fr": "Publication #{number} retirée", "en": "Post #{number} removed"},
        "email_subject_confirm": {"fr": "Confirmez votre courriel", "en": "Please confirm your email"},
        "email_confirm_sender": {
            "fr": "Nous avons reçu un courriel en votre nom sans pouvoir vérifier qu'il vient de vous. Répondez OUI "
            "pour le traiter, sinon ignorez ce message.",
            "en": "We got an email in your name but could not check that it came from you. Reply YES to act on it, "
            "or ignore this message.",
        },
        "email_confirm_unsure": {
            "fr": "Nous ne sommes pas sûrs d'avoir compris votre réponse. Répondez OUI pour confirmer ce texte:",
            "en": "We are not sure we understood your reply. Reply YES to confirm this text:",
        },
        "email_quoted_only": {
            "fr": "Votre réponse ne contient aucun texte nouveau. Écrivez au-dessus de la ligne.",
            "en": "Your reply has no new text. Please write above the line.",
        },
        "email_bad_attachment": {
            "fr": "{names}: seules les photos JPEG, PNG ou HEIC sont acceptées. Rien n'est publié.",
            "en": "{names}: only JPEG, PNG or HEIC photos are accepted. Nothing was posted.",
        },
        "email_bad_image": {
            "fr": "{names}: photo illisible. Rien n'est publié.",
            "en": "{names}: unreadable photo. Nothing was posted.",
        },
        "email_digest_soon": {
            "fr": "Les réponses aux mentions par courriel arrivent bientôt. Rien n'est envoyé pour l'instant.",
            "en": "Answering mentions by email is coming soon. Nothing was sent for now.",
        },
        "email_digest_subject": {
            "fr": "{business}: {count} nouvelles mentions",
            "en": "{business}: {count} new mentions",
        },
        "email_digest_howto": {
            "fr": "Pour répondre, écrivez une ligne par réponse, ex: 4: Merci!",
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
            "fr": "Réponse à #{number} sur {network}: {status}",
            "en": "Reply to #{number} on {network}: {status}",
        },
        "like_done": {
            "fr": "J'aime envoyé à #{number} sur {network}.",
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
            "fr": "Résumés à {hours}.",
            "en": "Digests at {hours}.",
        },
        "paused": {
            # {date} may end with a dot ("28 nov."): no full stop right after it
            "fr": "Résumés en pause jusqu'au {date} (REPRISE pour reprendre).",
            "en": "Digests paused until {date} (RESUME to restart).",
        },
        "resumed": {
            "fr": "Reprise des résumés de mentions.",
            "en": "Digests resumed.",
        },
        "alerts_on": {
            "fr": "Alertes immédiates activées (questions, avis 3* et moins).",
            "en": "Instant alerts on (questions, reviews of 3* or less).",
        },
        "alerts_off": {
            "fr": "Alertes immédiates désactivées.",
            "en": "Instant alerts off.",
        },
    }
)
