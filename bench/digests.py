"""Digest quality (issues 5 and 13): segments per SMS digest and items each carries, against sending the same items
as-is, and what the owner reads on page 1 of the bench's own table (bench/digest_table.py).

``.venv/bin/python bench/digests.py`` composes the SMS digests of every mention set of the table in
tests/mentions/test_digest.py (French and English, accents, curly apostrophes, emoji, reviews, questions, bursts of
long items), with the default budget of 2 segments, in each language, page after page (``M``, ``M2``...) until
every item was shown. The baseline is what a naive forwarder pays: each item as its own SMS, as written
(``#4 Bluesky cliente1: <text>``, no transliteration, so one accent or emoji makes it UCS-2), counted by the same
segment counter (``app/kit/sms_text.py``).

The second part composes bench/digest_table.py (16 real-style items per language that the tests do not contain)
and reports, for page 1 of 2 segments: how many items it shows, the septets and words of gist per item, gists
of fewer than four words, gists that still start with an @handle, how many of the hand-marked urgent items
(questions, complaints, reviews of 3 stars or less) it shows, and UCS-2 pages over all pages.
Raw results go to ``bench/out/digests-<timestamp>.json``.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from app.kit.sms_text import Encoding, segment_info  # noqa: E402
from app.mentions.digest import Digest, Lang, compose_sms_digest, cost_as_is  # noqa: E402
from bench.digest_table import OWN_HANDLES, TABLE  # noqa: E402
from tests.mentions.test_digest import CASES, all_pages  # noqa: E402


def measure(lang: Lang, budget: int) -> dict[str, Any]:
    sets = page_one_segments = page_one_items = page_one_as_is = all_segments = as_is = items_total = 0
    ucs2 = over_budget = 0
    for _, specs in CASES:
        items = [s.item for s in specs]
        pages = all_pages(items, lang, budget)
        sets += 1
        page_one_segments += pages[0].segments
        page_one_items += len(pages[0].shown)
        page_one_as_is += cost_as_is([i for i in items if i.number in pages[0].shown])
        all_segments += sum(p.segments for p in pages)
        as_is += cost_as_is(items)
        items_total += len(items)
        for p in pages:
            info = segment_info(p.text)
            ucs2 += info.encoding is not Encoding.GSM7
            over_budget += info.segments > budget
    return {
        "lang": lang,
        "budget_segments": budget,
        "sets": sets,
        "items": items_total,
        "first_digest_segments_avg": round(page_one_segments / sets, 2),
        "first_digest_items_avg": round(page_one_items / sets, 2),
        "first_digest_items_as_is_segments_avg": round(page_one_as_is / sets, 2),
        "all_items_by_digest_pages_segments": all_segments,
        "all_items_as_is_segments": as_is,
        "segments_per_item_digest": round(all_segments / items_total, 2),
        "segments_per_item_as_is": round(as_is / items_total, 2),
        "pages_in_ucs2": ucs2,
        "pages_over_budget": over_budget,
    }


def _compose(items: list[Any], lang: Lang, budget: int, page: int) -> Digest:
    try:
        return compose_sms_digest(items, lang, budget_segments=budget, page=page, own_handles=OWN_HANDLES)
    except TypeError:  # a version without own_handles (measuring the code before issue 13)
        return compose_sms_digest(items, lang, budget_segments=budget, page=page)


def measure_table(lang: Lang, budget: int) -> dict[str, Any]:
    """What the owner reads on page 1 of the bench's own table, and the encoding of every page."""
    rows = TABLE[lang]
    items = [r.item for r in rows]
    pages: list[Digest] = []
    while True:
        digest = _compose(items, lang, budget, len(pages) + 1)
        if not digest.text:
            break
        pages.append(digest)
    first = pages[0]
    gists = []
    for line in first.text.split("\n"):
        if line.startswith("#") and ": " in line:
            gists.append(line.split(": ", 1)[1])
    words = [len(g.removesuffix("...").split()) for g in gists]
    urgent = {r.item.number for r in rows if r.urgent}
    return {
        "lang": lang,
        "budget_segments": budget,
        "items": len(items),
        "page1_items": len(first.shown),
        "page1_segments": first.segments,
        "page1_gist_septets_avg": round(sum(len(g) for g in gists) / max(len(gists), 1), 1),
        "page1_gist_septets_min": min((len(g) for g in gists), default=0),
        "page1_gist_words_min": min(words, default=0),
        "page1_gists_under_4_words": sum(w < 4 for w in words),
        "page1_gists_starting_with_handle": sum(g.startswith("@") for g in gists),
        "page1_urgent_shown": f"{len(urgent & set(first.shown))}/{len(urgent)}",
        "pages": len(pages),
        "pages_in_ucs2": sum(segment_info(p.text).encoding is not Encoding.GSM7 for p in pages),
        "page1_text": first.text,
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--budget", type=int, default=2, help="segments per digest (the member's setting; default 2)")
    args = ap.parse_args(argv)
    results = [measure("fr", args.budget), measure("en", args.budget)]
    table = [measure_table("fr", args.budget), measure_table("en", args.budget)]
    out = ROOT / "bench" / "out"
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"digests-{datetime.now(UTC).strftime('%Y%m%dT%H%M%SZ')}.json"
    path.write_text(json.dumps({"cases": results, "table": table}, indent=2))
    for r in results:
        sys.stdout.write(
            f"{r['lang']}: {r['sets']} sets, {r['items']} items, budget {r['budget_segments']} segments\n"
            f"  first digest: {r['first_digest_segments_avg']} segments carrying {r['first_digest_items_avg']} items"
            f" (the same items as-is: {r['first_digest_items_as_is_segments_avg']} segments)\n"
            f"  every item, digest pages: {r['all_items_by_digest_pages_segments']} segments"
            f" ({r['segments_per_item_digest']}/item); as-is: {r['all_items_as_is_segments']}"
            f" ({r['segments_per_item_as_is']}/item)\n"
            f"  pages in UCS-2: {r['pages_in_ucs2']}; pages over budget: {r['pages_over_budget']}\n"
        )
    for r in table:
        sys.stdout.write(
            f"table {r['lang']}: {r['items']} items; page 1 ({r['page1_segments']} segments): {r['page1_items']} items,"
            f" gist {r['page1_gist_septets_avg']} septets avg (min {r['page1_gist_septets_min']}, fewest words"
            f" {r['page1_gist_words_min']}), {r['page1_gists_under_4_words']} gists under 4 words,"
            f" {r['page1_gists_starting_with_handle']} starting with @, urgent shown {r['page1_urgent_shown']};"
            f" {r['pages']} pages, {r['pages_in_ucs2']} in UCS-2\n"
        )
        sys.stdout.write("  " + r["page1_text"].replace("\n", "\n  ") + "\n")
    sys.stdout.write(f"results: {path}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
