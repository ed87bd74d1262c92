"""Coverage-guided fuzzing (atheris, libFuzzer) of the pure parsers that read what strangers send us.

    python bench/fuzz_atheris.py parser -runs=100000          # the SMS/email command parser
    python bench/fuzz_atheris.py segments -max_total_time=60  # segment composer and GSM-7 transliteration
    python bench/fuzz_atheris.py reply                        # email reply extractor
    python bench/fuzz_atheris.py mime                         # raw MIME parser (arbitrary bytes)
    python bench/fuzz_atheris.py twilio                       # Twilio webhook form parsers
    python bench/fuzz_atheris.py all -runs=20000              # each target in turn (a subprocess each)

Arguments after the target go to libFuzzer (``-runs``, ``-max_total_time``, ``-max_len``, a corpus directory).
Each target checks the same properties as tests/fuzz (no exception but the documented one, round trips) and
fails on an input that takes over ``HANG_SECONDS`` (libFuzzer's ``-timeout`` is set to the same bound).
A crash writes ``crash-<sha1>`` in the current directory; replay it with ``python bench/fuzz_atheris.py
<target> crash-<sha1>``. Needs ``pip install atheris`` (wheels for CPython 3.11 on Linux x86-64).
"""

from __future__ import annotations

import contextlib
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import atheris  # type: ignore[import-untyped, import-not-found, unused-ignore]

with atheris.instrument_imports():
    from app.channels.twilio.provider import parse_inbound, parse_status
    from app.commands import parser
    from app.email.parse import parse_email
    from app.email.reply import extract, normalise
    from app.kit.sms_text import is_gsm7, segment_info, split_segments, to_gsm7

HANG_SECONDS = 1.0
MAIL_DOMAIN = "ardoise.localhost"


def _bounded(name: str, started: float) -> None:
    elapsed = time.perf_counter() - started
    if elapsed > HANG_SECONDS:
        raise AssertionError(f"{name} took {elapsed:.2f} s on one input")


def fuzz_parser(data: bytes) -> None:
    fdp = atheris.FuzzedDataProvider(data)
    text = fdp.ConsumeUnicodeNoSurrogates(fdp.remaining_bytes())
    started = time.perf_counter()
    result = parser.parse(text)
    _bounded("parse", started)
    assert parser.parse(text) == result
    if isinstance(result, parser.Publish | parser.Unknown | parser.Reply):
        assert result.text in text
    body = text.strip()
    if body and len(body) < parser.MAX_TEXT - 10 and body[0] not in ":-–—.,;>":
        assert parser.parse("PUBLIER " + text) == parser.Publish(body, keyword_lang="fr")


def fuzz_segments(data: bytes) -> None:
    fdp = atheris.FuzzedDataProvider(data)
    text = fdp.ConsumeUnicodeNoSurrogates(fdp.remaining_bytes())
    started = time.perf_counter()
    info = segment_info(text)
    parts = split_segments(text)
    gsm = to_gsm7(text)
    _bounded("segments", started)
    assert "".join(parts) == text
    assert len(parts) == info.segments
    assert is_gsm7(gsm)
    assert to_gsm7(gsm) == gsm


def fuzz_reply(data: bytes) -> None:
    fdp = atheris.FuzzedDataProvider(data)
    text = fdp.ConsumeUnicodeNoSurrogates(fdp.remaining_bytes())
    started = time.perf_counter()
    result = extract(text)
    _bounded("extract", started)
    source = normalise(text)
    for line in result.text.split("\n"):
        assert line.strip() in source, line


def fuzz_mime(data: bytes) -> None:
    started = time.perf_counter()
    parsed = parse_email(data, mail_domain=MAIL_DOMAIN)
    _bounded("parse_email", started)
    assert "\r" not in parsed.text


def fuzz_twilio(data: bytes) -> None:
    fdp = atheris.FuzzedDataProvider(data)
    keys = ["MessageSid", "SmsSid", "From", "To", "Body", "NumMedia", "MessageStatus", "ErrorCode", "MediaUrl0"]
    form = {
        fdp.PickValueInList(keys) if fdp.ConsumeBool() else fdp.ConsumeUnicodeNoSurrogates(8): (
            fdp.ConsumeUnicodeNoSurrogates(40)
        )
        for _ in range(fdp.ConsumeIntInRange(0, 12))
    }
    started = time.perf_counter()
    with contextlib.suppress(ValueError):  # the documented refusal of a form without MessageSid/From/To
        parse_inbound(form)
    parse_status(form)
    _bounded("twilio parsers", started)


TARGETS: dict[str, Callable[[bytes], None]] = {
    "parser": fuzz_parser,
    "segments": fuzz_segments,
    "reply": fuzz_reply,
    "mime": fuzz_mime,
    "twilio": fuzz_twilio,
}


def main() -> None:
    if len(sys.argv) < 2 or sys.argv[1] not in [*TARGETS, "all"]:
        sys.exit(f"usage: {sys.argv[0]} {{{','.join(TARGETS)},all}} [libFuzzer options]")
    target, options = sys.argv[1], sys.argv[2:]
    if target == "all":
        failed = [t for t in TARGETS if subprocess.call([sys.executable, __file__, t, *options]) != 0]
        sys.exit(f"failed: {', '.join(failed)}" if failed else 0)
    if not any(o.startswith("-timeout=") for o in options):
        options.append(f"-timeout={max(1, int(HANG_SECONDS * 5))}")  # libFuzzer's own hang guard, in whole seconds
    atheris.Setup([sys.argv[0], *options], TARGETS[target])
    atheris.Fuzz()


if __name__ == "__main__":
    main()
