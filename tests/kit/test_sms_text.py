"""Segment counts, splitting and GSM-7 transliteration (reference: messaging.md section 1).

The GSM-7 alphabet and the reference splitter below are written out independently of the module (from the
ETSI table), so they check the module's codec-derived table rather than repeat it.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.kit.sms_text import (
    ELLIPSIS,
    Encoding,
    SegmentInfo,
    encoding_of,
    fit_owner_text,
    fits,
    is_gsm7,
    segment_info,
    septets,
    split_segments,
    to_gsm7,
    truncate_to,
    truncate_to_segments,
    utf16_units,
)

# 3GPP TS 23.038 basic table, row by row from 0x00, without 0x1B (ESC is not a character).
GSM_BASIC = (
    "@£$¥èéùìòÇ\nØø\rÅå"
    "Δ_ΦΓΛΩΠΨΣΘΞÆæßÉ"
    " !\"#¤%&'()*+,-./"
    "0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNO"
    "PQRSTUVWXYZÄÖÑÜ§"
    "¿abcdefghijklmno"
    "pqrstuvwxyzäöñüà"
)
GSM_EXTENSION = "\f^{}\\[~]|€"
GSM_ALL = GSM_BASIC + GSM_EXTENSION

FAST = settings(max_examples=200, deadline=None)


def reference_split(text: str) -> list[str]:
    """Greedy, character by character, from first principles: the oracle for split_segments."""
    gsm = all(ch in GSM_ALL for ch in text)

    def cost(ch: str) -> int:
        if gsm:
            return 2 if ch in GSM_EXTENSION else 1
        return len(ch.encode("utf-16-le", "surrogatepass")) // 2

    single, multi = (160, 153) if gsm else (70, 67)
    if sum(cost(ch) for ch in text) <= single:
        return [text]
    parts: list[str] = []
    current = ""
    used = 0
    for ch in text:
        if used + cost(ch) > multi:
            parts.append(current)
            current, used = "", 0
        current += ch
        used += cost(ch)
    parts.append(current)
    return parts


# --- Alphabet --------------------------------------------------------------------------------------------------


def test_encoding_values_are_the_names_carriers_use() -> None:
    assert [e.value for e in Encoding] == ["GSM-7", "UCS-2"]


def test_gsm_alphabet_matches_the_etsi_table() -> None:
    assert len(GSM_BASIC) == 127
    candidates = [chr(cp) for cp in range(0x3000)] + ["😀", "🇨", "\U0001f3fd"]
    wrong = [ch for ch in candidates if is_gsm7(ch) != (ch in GSM_ALL)]
    assert wrong == []


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("", True, id="empty"),
        pytest.param("Bonjour, à demain!", True, id="plain-french"),
        pytest.param("é è à ù ì ò É Ç ü Ü ä Ä ö Ö ñ Ñ", True, id="accents-in-gsm"),
        pytest.param("Ç", True, id="uppercase-c-cedilla-is-0x09"),
        pytest.param("ç", False, id="lowercase-c-cedilla-is-not"),
        pytest.param("ê", False, id="e-circumflex"),
        pytest.param("À", False, id="uppercase-a-grave"),
        pytest.param("€{}[]~^|\\\f", True, id="extension-table"),
        pytest.param("\t", False, id="tab"),
        pytest.param("\x1b", False, id="bare-escape"),
        pytest.param("\x00", False, id="nul"),
        pytest.param("`", False, id="backtick"),
        pytest.param("a\u00a0b", False, id="nbsp"),
        pytest.param("’", False, id="curly-apostrophe"),
        pytest.param("🙂", False, id="emoji"),
    ],
)
def test_is_gsm7(text: str, expected: bool) -> None:
    assert is_gsm7(text) is expected
    assert encoding_of(text) is (Encoding.GSM7 if expected else Encoding.UCS2)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("", 0, id="empty"),
        pytest.param("abc", 3, id="basic"),
        pytest.param("@", 1, id="at-sign-0x00"),
        pytest.param("€", 2, id="euro"),
        pytest.param("{}[]~^|\\", 16, id="all-brackets"),
        pytest.param("\f", 2, id="form-feed"),
        pytest.param("12,50 €", 8, id="price"),
    ],
)
def test_septets(text: str, expected: int) -> None:
    assert septets(text) == expected


def test_septets_rejects_text_gsm7_cannot_carry() -> None:
    with pytest.raises(ValueError, match="U\\+00E7"):
        septets("garçon")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("ê", 1, id="bmp"),
        pytest.param("😀", 2, id="surrogate-pair"),
        pytest.param("🇨🇦", 4, id="flag-two-regional-indicators"),
        pytest.param("❤️", 2, id="heart-plus-variation-selector"),
        pytest.param("👍🏽", 4, id="skin-tone"),
    ],
)
def test_utf16_units(text: str, expected: int) -> None:
    assert utf16_units(text) == expected


# --- Segments --------------------------------------------------------------------------------------------------

G7, U2 = Encoding.GSM7, Encoding.UCS2


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("", SegmentInfo(G7, 1, 0, 160), id="empty-is-one-segment"),
        pytest.param("a" * 160, SegmentInfo(G7, 1, 160, 160), id="gsm-160"),
        pytest.param("a" * 161, SegmentInfo(G7, 2, 161, 153), id="gsm-161"),
        pytest.param("a" * 306, SegmentInfo(G7, 2, 306, 153), id="gsm-153x2"),
        pytest.param("a" * 307, SegmentInfo(G7, 3, 307, 153), id="gsm-153x2-plus-1"),
        pytest.param("€" * 80, SegmentInfo(G7, 1, 160, 160), id="gsm-80-euros"),
        pytest.param("a" * 159 + "€", SegmentInfo(G7, 2, 161, 153), id="gsm-extension-crosses-160"),
        # 152 + 2 + 152 = 306 septets, but the ESC pair at septet 153 moves to part 2, which then needs 154.
        pytest.param("a" * 152 + "€" + "a" * 152, SegmentInfo(G7, 3, 306, 153), id="gsm-escape-pair-at-153"),
        pytest.param("a" * 151 + "€" + "a" * 153, SegmentInfo(G7, 2, 306, 153), id="gsm-escape-pair-ends-at-153"),
        pytest.param("ê" * 70, SegmentInfo(U2, 1, 70, 70), id="ucs2-70"),
        pytest.param("ê" * 71, SegmentInfo(U2, 2, 71, 67), id="ucs2-71"),
        pytest.param("ê" * 134, SegmentInfo(U2, 2, 134, 67), id="ucs2-67x2"),
        pytest.param("ê" * 135, SegmentInfo(U2, 3, 135, 67), id="ucs2-67x2-plus-1"),
        pytest.param("😀" * 35, SegmentInfo(U2, 1, 70, 70), id="ucs2-35-emoji"),
        # The surrogate pair would be units 67-68: it moves whole to part 2, which then needs 68.
        pytest.param("ê" * 66 + "😀" + "ê" * 66, SegmentInfo(U2, 3, 134, 67), id="ucs2-emoji-at-unit-67"),
        pytest.param("ê" * 65 + "😀" + "ê" * 67, SegmentInfo(U2, 2, 134, 67), id="ucs2-emoji-ends-at-67"),
        pytest.param("a" * 159 + "ç", SegmentInfo(U2, 3, 160, 67), id="one-c-cedilla-turns-all-ucs2"),
        pytest.param("🇨🇦", SegmentInfo(U2, 1, 4, 70), id="flag"),
        pytest.param("❤️", SegmentInfo(U2, 1, 2, 70), id="red-heart"),
    ],
)
def test_segment_info(text: str, expected: SegmentInfo) -> None:
    assert segment_info(text) == expected


@pytest.mark.parametrize(
    ("text", "expected_lengths"),
    [
        pytest.param("", [0], id="empty"),
        pytest.param("a" * 160, [160], id="single"),
        pytest.param("a" * 161, [153, 8], id="gsm-two-parts"),
        pytest.param("a" * 152 + "€" + "a" * 152, [152, 152, 1], id="escape-pair-not-split"),
        pytest.param("ê" * 66 + "😀" + "ê" * 66, [66, 66, 1], id="surrogate-pair-not-split"),
    ],
)
def test_split_segments_boundaries(text: str, expected_lengths: list[int]) -> None:
    parts = split_segments(text)
    assert [len(p) for p in parts] == expected_lengths
    assert "".join(parts) == text


gsm_texts = st.lists(
    st.one_of(st.sampled_from("abc "), st.sampled_from(GSM_ALL), st.sampled_from(GSM_EXTENSION)), max_size=500
).map("".join)
ucs2_texts = st.lists(
    st.one_of(st.sampled_from("aé "), st.sampled_from("ê’«😀🇨❤\ufe0f"), st.characters()), max_size=250
).map("".join)


@FAST
@given(st.one_of(gsm_texts, ucs2_texts))
def test_split_segments_matches_reference_splitter(text: str) -> None:
    parts = split_segments(text)
    info = segment_info(text)
    assert parts == reference_split(text)
    assert "".join(parts) == text
    assert len(parts) == info.segments
    for part in parts:
        if info.encoding is Encoding.GSM7:
            # Encoded bytes count the ESC of every extension character, independently of our cost table.
            assert len(part.encode("gsm03.38")) <= info.per_segment
        else:
            encoded = part.encode("utf-16-le", "surrogatepass")
            assert len(encoded) // 2 <= info.per_segment
            # A part never starts with a low surrogate, i.e. no pair was split.
            assert not part or not 0xDC00 <= ord(part[0]) <= 0xDFFF


@pytest.mark.parametrize(
    ("text", "segments", "expected"),
    [
        pytest.param("a" * 160, 1, True, id="gsm-160-fits-one"),
        pytest.param("a" * 161, 1, False, id="gsm-161-needs-two"),
        pytest.param("a" * 161, 2, True, id="gsm-161-fits-two"),
        pytest.param("ê" * 71, 1, False, id="ucs2-71"),
    ],
)
def test_fits(text: str, segments: int, expected: bool) -> None:
    assert fits(text, segments) is expected


def test_fits_rejects_zero_segments() -> None:
    with pytest.raises(ValueError, match="segments"):
        fits("a", 0)


# --- Truncation ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "max_units", "encoding", "expected"),
    [
        pytest.param("Bonjour", 7, G7, "Bonjour", id="fits-unchanged"),
        pytest.param("Bonjour à tous", 9, G7, "Bonjou...", id="cut-with-ellipsis"),
        pytest.param("Bonjour à tous", 11, G7, "Bonjour...", id="trailing-space-dropped"),
        pytest.param("abcd€fgh", 8, G7, "abcd...", id="escape-pair-not-split"),
        pytest.param("abcde€gh", 8, G7, "abcde...", id="escape-pair-left-out"),
        pytest.param("aê😀bcdef", 6, U2, "aê...", id="surrogate-pair-not-split"),
        pytest.param("aê😀bcdef", 7, U2, "aê😀...", id="surrogate-pair-kept"),
        pytest.param("abcdê", 4, U2, "a...", id="ucs2-cut-may-become-gsm"),
    ],
)
def test_truncate_to(text: str, max_units: int, encoding: Encoding, expected: str) -> None:
    assert truncate_to(text, max_units, encoding) == expected


@pytest.mark.parametrize(
    ("text", "max_units", "encoding"),
    [
        pytest.param("abc", 2, G7, id="no-room-for-ellipsis"),
        pytest.param("garçon", 160, G7, id="not-gsm7"),
    ],
)
def test_truncate_to_rejects(text: str, max_units: int, encoding: Encoding) -> None:
    with pytest.raises(ValueError, match=r"max_units|GSM-7"):
        truncate_to(text, max_units, encoding)


@FAST
@given(ucs2_texts, st.integers(min_value=3, max_value=200))
def test_truncate_to_is_a_bounded_prefix(text: str, max_units: int) -> None:
    cut = truncate_to(text, max_units, Encoding.UCS2)
    assert utf16_units(cut) <= max_units
    if cut != text:
        assert cut.endswith(ELLIPSIS)
        assert text.startswith(cut.removesuffix(ELLIPSIS))


@pytest.mark.parametrize(
    ("text", "segments"),
    [
        pytest.param("a" * 400, 1, id="gsm-one"),
        pytest.param("a" * 400, 2, id="gsm-two"),
        pytest.param("a" * 151 + "€" * 100, 2, id="gsm-escape-pairs-at-boundary"),
        pytest.param("ê" * 200, 1, id="ucs2-one"),
        pytest.param("ê" * 66 + "😀" * 100, 2, id="ucs2-surrogates-at-boundary"),
    ],
)
def test_truncate_to_segments_fits(text: str, segments: int) -> None:
    cut = truncate_to_segments(text, segments)
    assert cut.endswith(ELLIPSIS)
    assert segment_info(cut).segments == segments
    assert text.startswith(cut.removesuffix(ELLIPSIS))


def test_truncate_to_segments_keeps_text_that_fits() -> None:
    assert truncate_to_segments("a" * 306, 2) == "a" * 306


# --- Transliteration -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # messaging.md TL;DR list, letter by letter.
        pytest.param("êë âîï ôûçÿ", "ee aii oucy", id="french-lowercase"),
        pytest.param("ÀÂ ÈÊË ÎÏ Ô ÙÛ Ÿ", "AA EEE II O UU Y", id="french-uppercase"),
        pytest.param("œuf Œuvre", "oeuf OEuvre", id="oe-ligature"),
        pytest.param("’‘‛ʼ´`", "''''''", id="apostrophes"),
        pytest.param("«»“”„‟", '""""""', id="double-quotes"),
        pytest.param("a–b—c―d‒e", "a-b-c-d-e", id="dashes"),
        pytest.param("Attendez…", "Attendez...", id="ellipsis"),
        pytest.param("a\u00a0b\u202fc\u2009d\te", "a b c d e", id="spaces-and-tab"),
        pytest.param("½ ⅓ ¾", "1/2 1/3 3/4", id="fractions"),
        pytest.param("Commande n° 42, -25 °C", "Commande no 42, -25 oC", id="degree-sign"),
        pytest.param("ŝ á Ą ł Ł ß ø", "s a A l L ß ø", id="other-latin"),
        pytest.param("ﬁn m² Ａ", "fin m2 A", id="compatibility-forms"),
        pytest.param("e\u0301te\u0302", "éte", id="decomposed-input"),
        # Ç stays (ETSI 0x09); ç never goes out as 0x09, which phones show as Ç.
        pytest.param("GARÇON garçon Déçu", "GARÇON garcon Décu", id="c-cedilla"),
        pytest.param("Merci 🙂😊😀", "Merci :):):)", id="smileys"),
        pytest.param("Je t'aime ❤️ ♥", "Je t'aime <3 <3", id="hearts"),
        pytest.param("👍 👍🏽 👎", "+1 +1 -1", id="thumbs-skin-tone-stripped"),
        pytest.param("😢 😂 😉 🎉", ":( :D ;) !", id="more-emoji"),
        pytest.param("Bonjour 🦄 à tous", "Bonjour à tous", id="unknown-emoji-dropped-space-tidied"),
        pytest.param("🦄 Salut 🦄", "Salut", id="dropped-at-both-ends"),
        pytest.param("Fin 🦄\nSuite", "Fin\nSuite", id="dropped-before-newline"),
        pytest.param("🇨🇦 Canada 👨‍👩‍👧", "Canada", id="flags-and-zwj-sequences-dropped"),
        pytest.param("1️⃣ choix", "1 choix", id="keycap"),
        pytest.param("Il a dit «\u00a0oui\u00a0» !", 'Il a dit "oui" !', id="guillemet-inner-spaces"),
        pytest.param("mot\u200bsuivant\u00ad\ufeff", "motsuivant", id="invisible-format-chars"),
        pytest.param("a\x00b\x1bc", "abc", id="controls-dropped"),
        pytest.param("中文 ok", "ok", id="other-script-dropped"),
        pytest.param("@£$¥ € {x}", "@£$¥ € {x}", id="gsm-symbols-kept"),
    ],
)
def test_to_gsm7(text: str, expected: str) -> None:
    assert to_gsm7(text) == expected


def test_to_gsm7_keeps_every_gsm_character() -> None:
    assert to_gsm7(GSM_ALL) == GSM_ALL


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param(
            "Menu du jour : jarret d’agneau, crème brûlée « maison »",
            'Menu du jour : jarret d\'agneau, crème brulée "maison"',
            id="menu-du-jour",
        ),
        pytest.param(
            "Résumé du 26 nov. : 4 mentions. @chez_ginette : « Meilleure tourtière! » ❤️ ; "
            "@jf_tremblay : « Êtes-vous ouverts dimanche? » ; @luc_b : « Déçu, c’était froid… »",
            'Résumé du 26 nov. : 4 mentions. @chez_ginette : "Meilleure tourtière!" <3 ; '
            '@jf_tremblay : "Etes-vous ouverts dimanche?" ; @luc_b : "Décu, c\'était froid..."',
            id="digest",
        ),
    ],
)
def test_french_examples_become_one_gsm7_segment(text: str, expected: str) -> None:
    assert segment_info(text).encoding is Encoding.UCS2
    assert to_gsm7(text) == expected
    assert segment_info(expected) == SegmentInfo(Encoding.GSM7, 1, len(expected), 160)


@FAST
@given(st.text(max_size=300))
def test_to_gsm7_is_always_gsm7_and_idempotent(text: str) -> None:
    out = to_gsm7(text)
    assert is_gsm7(out)
    assert to_gsm7(out) == out


@FAST
@given(st.text(alphabet=GSM_ALL, max_size=300))
def test_to_gsm7_leaves_gsm7_text_alone(text: str) -> None:
    assert to_gsm7(text) == text


# --- Owner text ------------------------------------------------------------------------------------------------

SAVES_A_SEGMENT = "Fermé lundi (fête du Travail). Réouverture mardi 11 h. Bonne fin de semaine à tous 🙂"


@pytest.mark.parametrize(
    ("text", "budget", "expected"),
    [
        pytest.param("Bonjour à tous", None, "Bonjour à tous", id="already-gsm7"),
        # 1 UCS-2 segment either way: keep the owner's ê and ’.
        pytest.param("Fête d’été ce soir!", None, "Fête d’été ce soir!", id="no-saving-keeps-accents"),
        pytest.param(
            SAVES_A_SEGMENT,
            None,
            "Fermé lundi (fete du Travail). Réouverture mardi 11 h. Bonne fin de semaine à tous :)",
            id="saves-a-segment",
        ),
        # Transliteration would drop every letter: never worth a segment.
        pytest.param("中" * 71, None, "中" * 71, id="other-script-kept"),
        # 200 ê: as written, 1 segment holds 67 + "..."; transliterated, 157 + "...".
        pytest.param("ê" * 200, 1, "e" * 157 + ELLIPSIS, id="budget-prefers-the-fuller-cut"),
        pytest.param("中" * 100, 1, "中" * 67 + ELLIPSIS, id="budget-other-script-cut"),
        pytest.param("a" * 200, 2, "a" * 200, id="within-budget"),
    ],
)
def test_fit_owner_text(text: str, budget: int | None, expected: str) -> None:
    assert fit_owner_text(text, budget) == expected


def test_saves_a_segment_example_really_saves_one() -> None:
    assert segment_info(SAVES_A_SEGMENT).segments == 2
    assert segment_info(fit_owner_text(SAVES_A_SEGMENT)).segments == 1


@FAST
@given(ucs2_texts, st.one_of(st.none(), st.integers(min_value=1, max_value=3)))
def test_fit_owner_text_never_costs_more(text: str, budget: int | None) -> None:
    out = fit_owner_text(text, budget)
    if budget is None:
        assert out in (text, to_gsm7(text))
        assert segment_info(out).segments <= segment_info(text).segments
    else:
        assert fits(out, budget)
