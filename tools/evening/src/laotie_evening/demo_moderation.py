"""The moderation part of ``make run``: what the Thunder Plan decided during the evening."""

from __future__ import annotations

from collections import Counter
from typing import Any

import httpx
from laotie_common.auth import Role, mint_token
from laotie_common.settings import ServiceSettings


async def decisions(url: str, settings: ServiceSettings) -> list[dict[str, Any]]:
    token = mint_token(settings, subject="make-run", role=Role.REVIEWER)
    async with httpx.AsyncClient(base_url=url, timeout=30) as http:
        response = await http.get(
            "/violations", params={"limit": 200}, headers={"Authorization": f"Bearer {token}"}
        )
        response.raise_for_status()
        found: list[dict[str, Any]] = response.json()
    return found


def print_moderation_report(found: list[dict[str, Any]], appealed: dict[str, Any]) -> None:
    print("\nThunder Plan (雷霆计划) — violations and penalties of the evening")
    print("-" * 96)
    if not found:
        print("(none)")
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for v in reversed(found):  # oldest first
        groups.setdefault((v["code"], f"{v['subject_type']}:{v['subject_id']}"), []).append(v)
    for (code, subject), items in groups.items():
        last = items[-1]
        severities = Counter(v["severity"] for v in items)
        measures = (
            ", ".join(
                m["kind"] + (f" until {m['until'][:16]}" if m.get("until") else "")
                for m in last["measures"]
            )
            or "no penalty (content hidden)"
        )
        points = sum(v.get("points") or 0 for v in items)
        text = (last.get("text") or "")[:30]
        print(
            f"{code:<20} {subject[:32]:<32} ×{len(items):<3} "
            f"{', '.join(f'{n} {s}' for s, n in severities.items())}"
        )
        print(
            f"{'':<20} latest «{text}» → {measures}"
            + (f"; {points} points ({last['points_status']})" if points else "")
        )
    print(
        f"appeal (申诉) by {appealed['anchor']}: {appealed['appeal']}; points booked now: "
        f"{appealed['points_booked']}"
    )


async def appeal(url: str, settings: ServiceSettings, anchor_id: str) -> dict[str, Any]:
    """The banned anchor appeals (申诉) within the window; a reviewer rejects it, so the points
    are booked now instead of when the window lapses."""
    anchor = {
        "Authorization": "Bearer " + mint_token(settings, subject=anchor_id, role=Role.ANCHOR)
    }
    reviewer = {
        "Authorization": "Bearer " + mint_token(settings, subject="reviewer-1", role=Role.REVIEWER)
    }
    async with httpx.AsyncClient(base_url=url, timeout=30) as http:
        subject = (await http.get(f"/subjects/anchor/{anchor_id}", headers=anchor)).json()
        penalty_id = subject["penalties"][0]["penalty_id"]
        filed = await http.post(
            "/appeals",
            headers=anchor,
            json={"penalty_id": penalty_id, "reason": "我只是在说别人的账号，不是我的"},
        )
        filed.raise_for_status()
        decided = await http.post(
            f"/appeals/{filed.json()['appeal_id']}/decide",
            headers=reviewer,
            json={"upheld": False, "note": "the id is the anchor's own"},
        )
        decided.raise_for_status()
        after = (await http.get(f"/subjects/anchor/{anchor_id}", headers=anchor)).json()
    return {
        "anchor": anchor_id,
        "penalty_id": penalty_id,
        "appeal": decided.json()["status"],
        "points_booked": after["points"]["booked"],
    }
