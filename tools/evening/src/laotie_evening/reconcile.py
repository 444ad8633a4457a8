"""The reconciliation line of ``make run``: what each service published per topic, what each
consumer finished per topic, dead letters, and whether the consumers caught up."""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict
from typing import Any

import httpx
from laotie_common.metrics_text import samples
from laotie_contracts import TOPICS


async def scrape(urls: dict[str, str]) -> dict[str, str]:
    async with httpx.AsyncClient(timeout=10) as http:
        texts = await asyncio.gather(*(http.get(f"{u}/metrics") for u in urls.values()))
    return {name: t.text for name, t in zip(urls, texts, strict=True)}


async def reconcile(urls: dict[str, str], timeout: float = 60.0) -> dict[str, Any]:
    """Wait until every consumer finished everything published to its topics (or timeout)."""
    deadline = time.monotonic() + timeout
    while True:
        metrics = await scrape(urls)
        published: dict[str, float] = defaultdict(float)
        for text in metrics.values():
            for labels, value in samples(text, "laotie_outbox_published_total"):
                published[labels["topic"]] += value
        finished: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
        dead = 0.0
        for service, text in metrics.items():
            for labels, value in samples(text, "laotie_consumer_records_total"):
                finished[labels["topic"]][service] += value
            dead += sum(v for _, v in samples(text, "laotie_dead_letters_total"))
        rows = []
        caught_up = True
        for spec in TOPICS:
            for consumer in spec.consumers:
                done = finished[spec.name].get(consumer, 0.0)
                caught_up &= done >= published[spec.name]
                rows.append(
                    {
                        "topic": spec.name,
                        "published": int(published[spec.name]),
                        "consumer": consumer,
                        "finished": int(done),
                    }
                )
        if caught_up or time.monotonic() > deadline:
            return {"rows": rows, "dead_letters": int(dead), "caught_up": caught_up}
        await asyncio.sleep(0.5)


def print_reconciliation(found: dict[str, Any], oversold: int) -> None:
    print("\nReconciliation — events published per topic vs. finished per consumer")
    print("-" * 96)
    by_topic: dict[str, list[str]] = defaultdict(list)
    totals: dict[str, int] = {}
    for row in found["rows"]:
        totals[row["topic"]] = row["published"]
        mark = "" if row["finished"] >= row["published"] else " (behind)"
        by_topic[row["topic"]].append(f"{row['consumer']} {row['finished']}{mark}")
    for topic, consumers in by_topic.items():
        print(f"{topic:<24} published {totals[topic]:>6}  →  " + ", ".join(consumers))
    print(
        f"dead letters: {found['dead_letters']} (expected 0); oversold units: {oversold} "
        f"(must be 0); consumers caught up: {'yes' if found['caught_up'] else 'NO'}"
    )
