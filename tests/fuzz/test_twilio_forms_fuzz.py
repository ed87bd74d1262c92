"""Fuzz: Twilio's webhook form parsers (``parse_inbound``, ``parse_status``) and signature check on arbitrary
forms. ``parse_inbound`` may only raise its documented ValueError; ``parse_status`` never raises."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st
from twilio.request_validator import RequestValidator

from app.channels.twilio.provider import parse_inbound, parse_status, verify_signature
from tests.fuzz.profiles import bounded, fuzz_settings
from tests.fuzz.strategies import nasty_text

KEYS = st.sampled_from(
    [
        "MessageSid", "SmsSid", "SmsMessageSid", "From", "To", "Body", "NumMedia", "MessageStatus", "SmsStatus",
        "ErrorCode", "MediaUrl0", "MediaUrl1", "MediaUrl19", "MediaUrl20", "MediaContentType0", "AccountSid",
    ]
)  # fmt: skip
VALUES = st.one_of(
    nasty_text,
    st.sampled_from(["", "0", "1", "20", "21", "-1", "999999999999999999999", "1e3", " 3 ", "٣", "NaN", "SM1"]),
)
forms = st.dictionaries(KEYS | st.text(max_size=20), VALUES, max_size=24)


@fuzz_settings()
@given(forms)
def test_parse_inbound_raises_only_value_error(form: dict[str, str]) -> None:
    try:
        msg = bounded(parse_inbound, form)
    except ValueError:
        sid = form.get("MessageSid") or form.get("SmsMessageSid") or form.get("SmsSid")
        assert not (sid and form.get("From") and form.get("To"))  # refused only when a required field is missing
        return
    assert msg.provider_id
    assert msg.sender
    assert msg.to
    assert len(msg.media) <= 20
    assert all(m.url for m in msg.media)
    assert msg.body == form.get("Body", "")


@fuzz_settings()
@given(forms)
def test_parse_status_never_raises(form: dict[str, str]) -> None:
    update = bounded(parse_status, form)
    if update is not None:
        assert update.provider_id
        assert update.status == update.status.lower()


@fuzz_settings(scale=0.3)
@given(
    st.dictionaries(KEYS, st.text(alphabet=st.characters(exclude_categories=["Cs"]), max_size=60), max_size=12),
    st.text(alphabet=st.sampled_from(list("abz019/.-_~")), max_size=20),
    st.sampled_from(["", "?a=1", "?a=1&b=%C3%A9"]),
    st.text(max_size=40),
)
def test_signature_check_never_raises_and_rejects_forgeries(
    form: dict[str, str], path: str, query: str, sig: str
) -> None:
    """Form values as Starlette hands them over (valid Unicode, no lone surrogates), any path and query."""
    url = "https://ardoise.example/webhooks/twilio/sms" + path + query
    good = RequestValidator("token").compute_signature(url, form)
    assert bounded(verify_signature, ["token"], url, form, sig or None) == (sig == good)
    assert verify_signature(["other", "token"], url, form, good)  # rotation: either token validates
    assert not verify_signature(["other"], url, form, good)
