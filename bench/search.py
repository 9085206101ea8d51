"""Search in the process: indexing hostile bodies, and ranking one page of candidates.

Pure Python, no servers. Prints milliseconds per call (the median of ``--repeat``):

* ``index_terms`` on bodies built to be slow (100 000 characters of one ideograph,
  of one letter, of ``a@`` or ``<a`` pairs, of ``x.y``): bounded reads and
  backtracking-free patterns keep each to milliseconds (a regression shows as seconds);
* scoring ``SEARCH_CANDIDATES`` stories for a query and cutting the first page with
  ``Keyset.after_in_memory``, what a search costs the feed service on a cache miss.

    python -m bench.search [--repeat 5]
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from statistics import median
from typing import Any

from handlers.stories.feed import SEARCH, SEARCH_CANDIDATES
from handlers.stories.search import MAX_TERMS, index_terms, query_terms, score

HOSTILE = {
    "一个汉字 × 100 000": "工" * 100_000,
    "one letter × 100 000": "a" * 100_000,
    "a@ × 50 000": "a@" * 50_000,
    "<a × 50 000": "<a" * 50_000,
    "x.y × 30 000": "x.y" * 30_000,
}


def _ms(work: Callable[[], Any], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        work()
        times.append(time.perf_counter() - started)
    return median(times) * 1000


def _candidates() -> list[dict[str, Any]]:
    now = datetime.now(UTC)
    stories = []
    for i in range(SEARCH_CANDIDATES):
        title = "工匠精神代代传" if i % 3 == 0 else f"车间里的第{i}天"
        body = "他说，工匠精神就是较真。" * (1 + i % 5) + "精益求精。" * 40
        stories.append(
            {
                "_id": f"{i:024x}",  # an ObjectId's hex form
                "title": title,
                "summary": "一位老钳工的故事",
                "body_markdown": body,
                "published_at": now - timedelta(minutes=i),
                "terms": index_terms(
                    title=title, summary="一位老钳工的故事", body=body, tags=[], people_names=[]
                ),
            }
        )
    return stories


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    print("index_terms(title=body, summary=body, body=body, tags=[body], people_names=[body])")
    for label, body in HOSTILE.items():
        terms = index_terms(title=body, summary=body, body=body, tags=[body], people_names=[body])
        if len(terms) > MAX_TERMS:
            raise SystemExit(f"{label}: {len(terms)} terms, more than {MAX_TERMS}")
        ms = _ms(
            lambda body=body: index_terms(  # type: ignore[misc]
                title=body, summary=body, body=body, tags=[body], people_names=[body]
            ),
            args.repeat,
        )
        print(f"  {label:24} {ms:8.1f} ms   ({len(terms)} terms)")
    stories = _candidates()
    query = query_terms("工匠精神")

    def rank() -> None:
        scored = [(score(doc, query), doc) for doc in stories]
        SEARCH.after_in_memory(
            [item for item in scored if item[0] > 0],
            lambda item: (item[0], item[1]["published_at"], str(item[1]["_id"])),
            None,
            20,
            context=(datetime.now(UTC),),
        )

    print(f"ranking {len(stories)} candidates for 工匠精神 and cutting a page of 20")
    print(f"  {'score + after_in_memory':24} {_ms(rank, args.repeat):8.1f} ms")


if __name__ == "__main__":
    main()
