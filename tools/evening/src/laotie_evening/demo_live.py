"""The live part of ``make run``: rooms go live, products are pinned, viewers come and go,
comments flow, sales are credited to the sessions, and each session ends with its totals."""

from __future__ import annotations

import asyncio
import random
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from laotie_common.auth import Role

from laotie_evening.client import LiveApi


class LiveEvening:
    def __init__(self, api: LiveApi, seed: int) -> None:
        self.api = api
        self.rng = random.Random(seed * 31 + 1)
        self.sessions: list[dict[str, Any]] = []  # room, session, owner auth, label

    async def open_brand_room(self, brand_shop_id: str) -> None:
        """The brand's own room goes live: a self-broadcast (品牌自播)."""
        auth = self.api.auth(Role.SELLER, f"seller-{brand_shop_id}", brand_shop_id)
        await self._open("brand", auth, "品牌自播 flash sale", brand_shop_id)

    async def open_rooms(self, brand_shop_id: str | None = None) -> None:
        tag = self.rng.randint(0, 10**6)
        owners = [
            ("anchor", f"anchor-{tag}-1", Role.ANCHOR, None, "主播 evening show"),
            ("creator", f"creator-{tag}-1", Role.ANCHOR, None, "达人 picks"),
        ]
        for owner_type, subject, role, shop, title in owners:
            await self._open(owner_type, self.api.auth(role, subject, shop), title, subject)
        if brand_shop_id:
            await self._open(
                "brand",
                self.api.auth(Role.SELLER, f"seller-{brand_shop_id}", brand_shop_id),
                "品牌自播 flash sale",
                brand_shop_id,
            )

    async def _open(self, owner_type: str, auth: dict[str, str], title: str, owner: str) -> None:
        room = (
            await self.api.call(
                "POST", "/rooms", auth, {"owner_type": owner_type, "title": title}, 201
            )
        ).json()
        session = (
            await self.api.call("POST", f"/rooms/{room['room_id']}/sessions", auth, {}, 201)
        ).json()
        self.sessions.append(
            {
                "room_id": room["room_id"],
                "session_id": session["session_id"],
                "auth": auth,
                "label": f"{owner_type}: {title}",
                "owner": owner,
                "owner_type": owner_type,
            }
        )

    def rooms(self, owner_type: str | None = None) -> list[tuple[str, str]]:
        return [
            (s["room_id"], s["owner"])
            for s in self.sessions
            if owner_type is None or s["owner_type"] == owner_type
        ]

    async def pin(self, products: list[dict[str, Any]], timeout: float = 30.0) -> int:
        """Pin each product in each session once the live service has seen it listed."""
        pinned, deadline = 0, time.monotonic() + timeout
        for session in self.sessions:
            for product in products:
                while True:
                    r = await self.api.call(
                        "POST",
                        f"/sessions/{session['session_id']}/pins",
                        session["auth"],
                        {"product_id": product["product_id"]},
                    )
                    if r.status_code == 201:
                        pinned += 1
                        break
                    if (
                        r.status_code != 409
                        or r.json().get("reason") != "product_unknown"
                        or (time.monotonic() > deadline)
                    ):
                        break
                    await asyncio.sleep(0.2)
        return pinned

    async def crowd(self, viewers: int = 300, owner_type: str | None = None) -> None:
        """Viewers join and leave (reported in batches, some twice), and comment."""
        edge = self.api.auth(Role.SERVICE, "player-edge")
        start = datetime.now(UTC) - timedelta(minutes=30)
        for session in self.sessions:
            if owner_type is not None and session["owner_type"] != owner_type:
                continue
            events = []
            for v in range(viewers):
                t = self.rng.randint(0, 1500)
                events.append(
                    {
                        "viewer_id": f"v{v}",
                        "action": "join",
                        "at": (start + timedelta(seconds=t)).isoformat(),
                    }
                )
                if self.rng.random() < 0.6:
                    t += self.rng.randint(30, 600)
                    events.append(
                        {
                            "viewer_id": f"v{v}",
                            "action": "leave",
                            "at": (start + timedelta(seconds=t)).isoformat(),
                        }
                    )
            events += self.rng.sample(events, len(events) // 10)  # duplicate reports
            self.rng.shuffle(events)
            for i in range(0, len(events), 500):
                await self.api.call(
                    "POST",
                    f"/sessions/{session['session_id']}/viewers",
                    edge,
                    {"events": events[i : i + 500]},
                    200,
                )
            for n in range(5):
                fan = self.api.auth(Role.BUYER, f"fan-{n}")
                await self.api.call(
                    "POST",
                    f"/sessions/{session['session_id']}/comments",
                    fan,
                    {
                        "text": self.rng.choice(
                            ["好看!", "多少钱?", "已下单", "老铁666", "还有货吗"]
                        )
                    },
                    201,
                )

    async def wait_for_sales(self, expected_fen: int, timeout: float = 45.0) -> int:
        """Wait until the sessions' GMV reflects the paid live-room orders (consumer lag)."""
        deadline, seen = time.monotonic() + timeout, 0
        while time.monotonic() < deadline:
            seen = 0
            for session in self.sessions:
                stats = (
                    await self.api.client.get(f"/sessions/{session['session_id']}/stats")
                ).json()
                seen += stats["gmv_fen"]
            if seen >= expected_fen:
                break
            await asyncio.sleep(0.3)
        return seen

    async def misbehave(self, timeout: float = 30.0) -> None:
        """The anchor posts an obfuscated WeChat id (moderation bans them from going live, and
        live closes their session); a viewer posts a phone number in Chinese numerals."""
        anchor = next(s for s in self.sessions if s["owner_type"] == "anchor")
        creator = next(s for s in self.sessions if s["owner_type"] == "creator")
        await self.api.call(
            "POST",
            f"/sessions/{anchor['session_id']}/comments",
            anchor["auth"],
            {"text": "想要底价的 加我 V❤信：laotie_8８8 私聊"},
            201,
        )
        await self.api.call(
            "POST",
            f"/sessions/{creator['session_id']}/comments",
            self.api.auth(Role.BUYER, "fan-troll"),
            {"text": "便宜货找我 幺三八 零零一二 三四五六"},
            201,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            session = (await self.api.client.get(f"/sessions/{anchor['session_id']}")).json()
            if session["ended_at"]:
                break
            await asyncio.sleep(0.3)

    async def close(self) -> list[dict[str, Any]]:
        keys = (
            "gmv_fen",
            "refunded_fen",
            "orders",
            "buyers",
            "peak_viewers",
            "unique_viewers",
            "comments",
            "conversion",
        )
        report = []
        for session in self.sessions:
            sid = session["session_id"]
            # 409 when moderation closed it already
            await self.api.call("POST", f"/sessions/{sid}/end", session["auth"])
            stats = (await self.api.client.get(f"/sessions/{sid}/stats")).json()
            ended = (await self.api.client.get(f"/sessions/{sid}")).json()
            report.append(
                {
                    "session": session["label"],
                    "room_id": session["room_id"],
                    "end_reason": ended["end_reason"],
                    **{k: stats[k] for k in keys},
                }
            )
        return report


def print_live_report(sessions: list[dict[str, Any]]) -> None:
    print("\nLive sessions — through the real live API")
    print("-" * 110)
    print(
        f"{'session':<34}{'GMV ¥':>12}{'orders':>8}{'buyers':>8}{'peak':>7}{'unique':>8}"
        f"{'comments':>10}{'conv.':>8}  ended by"
    )
    for s in sessions:
        print(
            f"{s['session'][:33]:<34}{s['gmv_fen'] / 100:>12,.2f}{s['orders']:>8}"
            f"{s['buyers']:>8}{s['peak_viewers']:>7}{s['unique_viewers']:>8}"
            f"{s['comments']:>10}{s['conversion']:>8.1%}  {s['end_reason']}"
        )
