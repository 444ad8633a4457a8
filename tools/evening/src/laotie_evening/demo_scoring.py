"""The scoring part of ``make run``: the evening's shops, products and creators, scored."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx


async def scores(
    url: str, subjects: dict[str, dict[str, int]], timeout: float = 45.0
) -> list[dict[str, Any]]:
    """Each subject's score once scoring has applied all its paid orders (or the timeout)."""
    found: list[dict[str, Any]] = []
    async with httpx.AsyncClient(base_url=url, timeout=30) as http:
        for kind, ids in subjects.items():
            for subject_id, paid in ids.items():
                deadline = time.monotonic() + timeout
                while True:
                    response = await http.get(f"/scores/{kind}/{subject_id}")
                    body = response.json() if response.status_code == 200 else {}
                    if body.get("sample_orders", 0) >= paid or time.monotonic() > deadline:
                        break
                    await asyncio.sleep(0.3)
                found.append({"kind": kind, "subject_id": subject_id, "paid_orders": paid, **body})
    return found


def print_scoring_report(found: list[dict[str, Any]]) -> None:
    print("\nScores — 店铺体验分 / 商品分 / 带货口碑分 (30-day window, policy in the report)")
    print("-" * 110)
    for s in found:
        name = f"{s['kind']}:{s['subject_id'][:24]}"
        if s.get("status") != "scored":
            missing = s.get("missing") or []
            why = f"; nothing measured for {', '.join(missing)}" if missing else ""
            print(
                f"{name:<34} not enough data ({s.get('sample_orders', 0)} of "
                f"{s.get('min_sample_orders', '?')} orders{why})"
            )
            continue
        dims = {k: v for k, v in s["components"].items() if "." not in k}
        parts = "  ".join(f"{k} {v:.2f}" for k, v in dims.items())
        print(f"{name:<34} {s['value']:.2f} {s['band']:<10} {parts}")
