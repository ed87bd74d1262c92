"""Fuzz: the SMS segment composer and the GSM-7 transliteration (app/kit/sms_text.py)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from app.kit.sms_text import (
    ELLIPSIS,
    Encoding,
    fit_owner_text,
    is_gsm7,
    segment_info,
    septets,
    split_segments,
    to_gsm7,
    truncate_to_segments,
    utf16_units,
)
from tests.fuzz.profiles import bounded, fuzz_settings
from tests.fuzz.strategies import nasty_text

GSM_ESCAPED = "€[]{}\\^~|\x0c"
sms_text = st.one_of(
    nasty_text,
    st.text(alphabet=st.sampled_from(list("abcé àÇ€[]{}^~|\\\n0123456789")), max_size=1200),
    st.text(
        alphabet=st.sampled_from(list("a€é🙂😀👍🏽𝄞")), max_size=600
    ),  # ESC pairs and surrogate pairs at boundaries
)


@fuzz_settings()
@given(sms_text)
def test_split_segments_round_trip(text: str) -> None:
    info = bounded(segment_info, text)
    parts = bounded(split_segments, text)
    assert "".join(parts) == text
    assert len(parts) == info.segments >= 1
    assert info.encoding == (Encoding.GSM7 if is_gsm7(text) else Encoding.UCS2)
    if info.encoding is Encoding.GSM7:
        assert info.units == septets(text)
        costs = [septets(part) for part in parts]
    else:
        assert info.units == utf16_units(text)
        costs = [utf16_units(part) for part in parts]
    assert all(cost <= info.per_segment for cost in costs)
    assert sum(costs) == info.units
    if info.segments > 1:
        assert info.per_segment in (153, 67)
        assert all(part for part in parts)  # no empty part in a concatenated message


@fuzz_settings()
@given(sms_text)
def test_to_gsm7_is_gsm7_and_idempotent(text: str) -> None:
    out = bounded(to_gsm7, text)
    assert is_gsm7(out)
    assert to_gsm7(out) == out
    if is_gsm7(text):
        assert out == text


@fuzz_settings(scale=0.5)
@given(sms_text, st.integers(1, 4))
def test_truncate_and_fit_stay_in_budget(text: str, segments: int) -> None:
    cut = bounded(truncate_to_segments, text, segments)
    assert segment_info(cut).segments <= segments
    assert cut == text or cut.endswith(ELLIPSIS)
    fitted = bounded(fit_owner_text, text, segments)
    assert segment_info(fitted).segments <= segments
