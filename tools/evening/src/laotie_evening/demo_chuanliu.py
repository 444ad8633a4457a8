"""The Chuanliu part of ``make run``: grants when the brand went live, attribution, rewards."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from typing import Any

import httpx
from laotie_common.auth import Role, mint_token
from laotie_common.settings import ServiceSettings


def _operator() -> dict[str, str]:
    """The evening reads Chuanliu's figures as an operator (they are not public)."""
    token = mint_token(ServiceSettings(), subject="make-run", role=Role.OPERATOR)
    return {"Authorization": f"Bearer {token}"}


async def wait_for_decision(url: str, session_id: str, timeout: float = 30.0) -> dict[str, Any]:
    """Wait until Chuanliu decided what the brand's session start earns."""
    deadline = time.monotonic() + timeout
    async with httpx.AsyncClient(base_url=url, timeout=10, headers=_operator()) as http:
        while True:
            response = await http.get(f"/sessions/{session_id}/grants")
            body: dict[str, Any] = response.json()
            if response.status_code == 200 and body["outcome"] != "deciding":
                return body
            if time.monotonic() > deadline:
                return {"outcome": "not decided in time", "grants": 0}
            await asyncio.sleep(0.3)


async def rounds(url: str, session_id: str, timeout: float = 30.0) -> dict[str, Any]:
    """The brand's session's rounds of grants so far, waiting (up to ``timeout``) for a
    top-up to grant the buyers won over while it was live."""
    deadline = time.monotonic() + timeout
    async with httpx.AsyncClient(base_url=url, timeout=10, headers=_operator()) as http:
        while True:
            body = (await http.get(f"/sessions/{session_id}/grants?limit=500")).json()
            by_round = dict(sorted(Counter(g["round"] for g in body["grants_detail"]).items()))
            if any(r > 1 for r in by_round) or time.monotonic() > deadline:
                return {"rounds": body["rounds"], "grants_by_round": by_round}
            await asyncio.sleep(0.5)


async def granted_so_far(url: str) -> int:
    async with httpx.AsyncClient(base_url=url, timeout=10, headers=_operator()) as http:
        return int((await http.get("/budget")).json()["granted"])


async def report(
    url: str, brand_id: str, creators: list[str], expected_orders: int, timeout: float = 30.0
) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=url, timeout=10, headers=_operator()) as http:
        deadline = time.monotonic() + timeout
        while True:  # wait until Chuanliu has seen the brand's self-broadcast orders
            uplift = (await http.get(f"/brands/{brand_id}/uplift")).json()
            seen = sum(d["attributed_orders"] + d["organic_orders"] for d in uplift["days"])
            if seen >= expected_orders or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.3)
        budget = (await http.get("/budget")).json()
        contributions = [(await http.get(f"/creators/{c}/contribution")).json() for c in creators]
    return {
        "brand": uplift,
        "budget": budget,
        "creators": [c for c in contributions if c["attributed_orders"]],
    }


def print_chuanliu_report(found: dict[str, Any], impressions_granted: int) -> None:
    brand, budget = found["brand"], found["budget"]
    print("\nChuanliu (川流计划) — creators' distribution turned into traffic for the brand")
    print("-" * 96)
    print(
        f"today's budget {budget['budget']:,} impressions; granted {budget['granted']:,} "
        f"(this evening {impressions_granted:,}); pacing allows {budget['paced_allowance_now']:,}"
        f" by now"
    )
    print(f"the brand's self-broadcast session start: {found.get('session_decision')}")
    paced = found.get("session_rounds") or {}
    print(
        f"paced through the session: {paced.get('rounds')} rounds so far; grants by round "
        f"{paced.get('grants_by_round')} (round 1 at the start, then top-ups to buyers won"
        " over while it was live)"
    )
    uplift = brand["uplift"]
    print(
        f"brand {brand['brand_id']}: attributed GMV ¥{brand['attributed_fen'] / 100:,.2f}, "
        f"organic ¥{brand['organic_fen'] / 100:,.2f}, uplift "
        f"{'n/a' if uplift is None else f'{uplift:.1%}'}"
    )
    arms = brand["against_holdout"]
    t, h = arms["treated"], arms["holdout"]

    def pct(x: float | None) -> str:
        return "n/a" if x is None else f"{x:.1%}"

    print(
        f"against the holdout (对照组): granted {t['buyers']} buyers, {t['converted']} bought "
        f"({pct(t['conversion'])}); held out {h['buyers']}, {h['converted']} bought "
        f"({pct(h['conversion'])}); conversion uplift {pct(arms['conversion_uplift'])}"
    )
    for c in found["creators"]:
        print(
            f"creator {c['creator_id']:<16} led ¥{c['attributed_gmv_fen'] / 100:,.2f} in "
            f"{c['attributed_orders']} orders → {c['reward_impressions']:,} reward impressions"
            + (
                f" ({c['reward_impressions_withdrawn']:,} withdrawn by refunds)"
                if c["reward_impressions_withdrawn"]
                else ""
            )
        )
    if not found["creators"]:
        print("no creator rewards this evening")
