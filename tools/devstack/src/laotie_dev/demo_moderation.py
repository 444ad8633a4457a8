"""The moderation part of ``make run``: what the Thunder Plan decided during the evening."""

from __future__ import annotations

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


def print_moderation_report(found: list[dict[str, Any]]) -> None:
    print("\nThunder Plan (雷霆计划) — violations and penalties of the evening")
    print("-" * 96)
    if not found:
        print("(none)")
    for v in reversed(found):
        measures = (
            ", ".join(
                m["kind"] + (f" until {m['until'][:16]}" if m.get("until") else "")
                for m in v["measures"]
            )
            or "no penalty (content hidden)"
        )
        points = f", {v['points']} points {v['points_status']}" if v.get("points") else ""
        text = (v.get("text") or "")[:28]
        print(
            f"{v['code']:<20} {v['subject_type']}:{v['subject_id'][:22]:<22} {v['severity']:<8}"
            f"«{text}» → {measures}{points}"
        )
