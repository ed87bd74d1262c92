"""Average SMS segments per receipt, over every receipt Ardoise can compose for up to four networks.

The table: every combination of 1 to 4 of the seven networks (page, bluesky, mastodon, facebook, instagram,
google, x, in that order, as deliveries are listed by account), every status of each (OK, en attente, ECHEC,
ignore: published, pending, failed, skipped), in French and English, for post numbers 1, 42, 999 and 9999.
Each receipt is composed the way ``app.posts.tasks.receipt`` composes it (``receipt_parts`` over ``Delivery``
rows, then ``t("receipt", ...)``), made GSM-7 with ``to_gsm7`` as every system SMS is, and billed with
``segment_info``. The cost of the text as composed (no transliteration) is given beside it.

    .venv/bin/python bench/segments.py [--json bench/out/segments.json]
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from app.catalogue import t  # noqa: E402
from app.kit.sms_text import segment_info, to_gsm7  # noqa: E402
from app.models import Delivery, DeliveryStatus  # noqa: E402
from app.posts.service import receipt_parts  # noqa: E402

NETWORKS = ["page", "bluesky", "mastodon", "facebook", "instagram", "google", "x"]
STATUSES = [
    DeliveryStatus.published.value,  # OK
    DeliveryStatus.pending.value,  # en attente / pending
    DeliveryStatus.failed.value,  # ECHEC / FAILED
    DeliveryStatus.skipped.value,  # ignore / skipped
]
NUMBERS = [1, 42, 999, 9999]
LANGS = ["fr", "en"]


def receipts() -> list[tuple[str, str]]:
    """(language, receipt text) for every row of the table."""
    cache: dict[tuple[str, str], Delivery] = {}

    def delivery(network: str, status: str) -> Delivery:
        key = (network, status)
        if key not in cache:
            cache[key] = Delivery(post_id=1, account_id=1, network=network, status=status, idempotency_key="k")
        return cache[key]

    out: list[tuple[str, str]] = []
    for size in range(1, 5):
        for nets in itertools.combinations(NETWORKS, size):
            for statuses in itertools.product(STATUSES, repeat=size):
                ds = [delivery(n, s) for n, s in zip(nets, statuses, strict=True)]
                for lang in LANGS:
                    parts = receipt_parts(ds, lang)
                    for number in NUMBERS:
                        out.append((lang, t("receipt", lang, number=number, parts=parts)))
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--json", type=Path, help="also write the results here")
    args = ap.parse_args(argv)
    table = receipts()
    sent: Counter[int] = Counter()
    as_is: Counter[int] = Counter()
    encodings: Counter[str] = Counter()
    longest = ("", 0)
    over: list[str] = []
    changed = 0
    for _lang, text in table:
        gsm = to_gsm7(text)
        changed += gsm != text
        info = segment_info(gsm)
        sent[info.segments] += 1
        encodings[info.encoding.value] += 1
        as_is[segment_info(text).segments] += 1
        if info.units > longest[1]:
            longest = (gsm, info.units)
        if info.segments > 1 and len(over) < 5:
            over.append(gsm)
    n = len(table)
    result = {
        "receipts": n,
        "avg_segments": round(sum(k * v for k, v in sent.items()) / n, 4),
        "max_segments": max(sent),
        "over_one_segment": n - sent[1],
        "avg_segments_as_is": round(sum(k * v for k, v in as_is.items()) / n, 4),
        "changed_by_to_gsm7": changed,
        "encodings": dict(encodings),
        "longest_units": longest[1],
        "longest": longest[0],
        "examples_over_one_segment": over,
    }
    sys.stdout.write(
        "| receipts | avg segments (sent, GSM-7) | max | > 1 segment | avg segments as composed | "
        "longest (septets) |\n|---|---|---|---|---|---|\n"
        f"| {n} | {result['avg_segments']} | {result['max_segments']} | {result['over_one_segment']} | "
        f"{result['avg_segments_as_is']} | {longest[1]} |\n\nlongest: {longest[0]}\n"
    )
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
