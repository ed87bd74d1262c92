"""Hostile text for the fuzz tests: what phones, mail clients and attackers actually send."""

from __future__ import annotations

from hypothesis import strategies as st

# Characters that break naive code: controls and NUL, CR/LF mixes, zero-width and bidi overrides, combining
# marks, surrogate-plane emoji with ZWJ and skin tones, GSM-7 escape characters, typographic quotes.
NASTY = (
    "\x00\x01\x07\x08\x0b\x0c\x1b\x7f\r\n\t \u00a0\u202f\u2007\u2028\u2029"
    "\u200b\u200c\u200d\u2060\ufeff\u202e\u202d\u202a\u2066\u2069\u061c"
    "\u0301\u0308\u20e3\ufe0f"
    "€[]{}\\^~|ÇçœŒ«»“”‘’…–—·°"
    "🙂👍🏽👨‍👩‍👧❤️🇫🇷🦄"
    "'\";-#%><&"
)

nasty_text = st.text(alphabet=st.sampled_from(list(NASTY)) | st.characters(), max_size=400)
"""Arbitrary Unicode with a strong bias towards the characters above."""

words = st.sampled_from(
    [
        "PUBLIER", "POST", "PUB", "ANNULER", "UNDO", "EFFACER", "R", "J", "M", "?", "PIN", "NIP", "OUI", "NON",
        "STOP", "AIDE", "HELP", "LANGUE", "HEURES", "PAUSE", "REPRISE", "ALERTES", "R4", "M2", "#12", "4821",
        "« STOP »", "Publiér:", "'; DROP TABLE business;--", "\r\nX-Injected: 1",
    ]
)  # fmt: skip

command_like = st.builds(
    lambda head, sep, rest: head + sep + rest,
    words,
    st.sampled_from(["", " ", ": ", " - ", "\n", "\u00a0", "\t"]),
    nasty_text,
)
"""A keyword, a separator, then anything: reaches the argument readers of every command."""

line_endings = st.sampled_from(["\n", "\r\n", "\r"])
