"""Faults under load, with all five services and a tap as real processes; then a
reconciliation against the client's own list of acknowledged orders.

The reference is what the shoppers were told (order placed and paid, 201/200), never the
system's own tables. Every consumer's effect is counted in its own tables (live's session
orders, Chuanliu's affinity and self-broadcast sales, scoring's facts and buckets) and must
equal that list exactly. The services' effects are idempotent by construction, which would
hide a delivery core that applied a record twice; the tap (the probe service tapping
``orders.order`` through the same consumer) counts applications per event id, so a double
shows there. ``FAULTS=consumer.dedup_off`` on the tap plants exactly that bug.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import uuid
from collections import Counter, defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import httpx
import pytest
from laotie_common.auth import Role
from laotie_common.kafka import ensure_topics
from laotie_common.settings import ServiceSettings
from laotie_contracts import dead_letter_topic
from laotie_contracts.topics import consumed_by
from laotie_evening.client import Actor, LiveApi, OrdersApi
from laotie_probe.probe import probe_topics
from prometheus_client.parser import text_string_to_metric_families

from tests.integration.infra import Infra
from tests.integration.kit import (
    ServiceProcess,
    eventually,
    group_at_end,
    header,
    read_topic,
    running_service,
)

SERVICES = ("orders", "live", "moderation", "scoring", "chuanliu")
CONSUMERS = ("live", "moderation", "scoring", "chuanliu", "tap")
PRICE_FEN = 500
STOCK = 100_000
PLACED, PAID = "orders.order.placed", "orders.order.paid"

# A load of ~1.5 minutes, consumers catching up on the session's topics, the reconciliation.
pytestmark = pytest.mark.timeout(600)


@dataclass(frozen=True)
class Acknowledged:
    """An order the client was told is placed and paid."""

    order_id: str
    buyer_id: str
    channel: str


@dataclass
class Evening:
    """The stack under a steady load of shoppers, and what the shoppers were told."""

    infra: Infra
    procs: dict[str, ServiceProcess]
    api: OrdersApi
    seller: Actor
    sku: str
    room: str
    session: str
    creator: str = field(default_factory=lambda: f"creator-{uuid.uuid4().hex[:8]}")
    reference: str = ""  # the creator's promotion of the product (达人分销)
    done: list[Acknowledged] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    load: list[asyncio.Task[None]] = field(default_factory=list)
    stopping: asyncio.Event = field(default_factory=asyncio.Event)
    report: list[str] = field(default_factory=list)

    async def stop_load(self) -> None:
        """The shoppers finish their order in hand and stop; the services keep running."""
        self.stopping.set()
        await asyncio.gather(*self.load)

    def schema(self, name: str) -> str:
        return self.procs[name].env_vars["DB_SCHEMA"]

    async def progressed(self, by: int = 8) -> None:
        """Wait until the shoppers finished ``by`` more orders (they must keep going)."""
        target = len(self.done) + by

        async def enough() -> bool:
            for task in self.load:
                if task.done() and task.exception():
                    raise AssertionError("the load failed") from task.exception()
            return len(self.done) >= target

        await eventually(
            enough,
            timeout=90,
            what=f"{by} more orders (done {len(self.done)}, errors {len(self.errors)}: "
            f"{self.errors[-2:]})",
        )

    async def restart(self, name: str) -> None:
        self.procs[name].kill()
        await asyncio.sleep(0.5)  # the process is gone; let its group notice nothing yet
        self.procs[name].start()
        await self.procs[name].wait_ready()
        self.report.append(f"kill -9 {name}: restarted")


async def _rows(url: str, schema: str, sql: str, *args: Any) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(url, server_settings={"search_path": schema})
    try:
        return list(await conn.fetch(sql, *args))
    finally:
        await conn.close()


@contextlib.asynccontextmanager
async def evening_under_load(infra: Infra, **tap_env: str) -> AsyncIterator[Evening]:
    """Five services and the tap, a brand with a product and a live session, four shoppers
    (two buying through a creator's distribution link, two in the brand's live room)."""
    settings = ServiceSettings(
        kafka_bootstrap_servers=infra.kafka_bootstrap, database_url=infra.database_url
    )
    env = {"CONSUMER_MAX_POLL_INTERVAL_MS": "10000"}
    await ensure_topics(settings, probe_topics("probe.events"))
    async with contextlib.AsyncExitStack() as stack:
        procs = {}
        for name in (*SERVICES, "tap"):
            # The groups start at the topics' end: the evening's faults fall on its own load,
            # not on the backlog other tests left in this session's topics.
            group = await group_at_end(infra.kafka_bootstrap, name, _reads(name))
            module, extra = (
                ("laotie_probe.probe", _tap_env(group, **tap_env))
                if name == "tap"
                else (f"laotie_{name}", {})
            )
            procs[name] = await stack.enter_async_context(
                running_service(
                    module,
                    infra.kafka_bootstrap,
                    infra.database_url,
                    CONSUMER_GROUP=group,
                    **env,
                    **extra,
                )
            )
        orders_http = await stack.enter_async_context(
            httpx.AsyncClient(base_url=procs["orders"].url, timeout=10)
        )
        live_http = await stack.enter_async_context(
            httpx.AsyncClient(base_url=procs["live"].url, timeout=10)
        )
        api = OrdersApi(orders_http, settings)
        seller = await api.new_shop("brand")
        product = await api.new_product(seller, stock=STOCK, price_fen=PRICE_FEN)
        room, session = await _brand_live(LiveApi(live_http, settings), seller)
        evening = Evening(infra, procs, api, seller, product["skus"][0]["sku_id"], room, session)
        evening.reference = await api.promotion(seller, product, evening.creator)
        await _chuanliu_knows_room(evening)
        await api.until_live(room)
        evening.load = [asyncio.create_task(_shopper(evening, n)) for n in range(4)]
        try:
            yield evening
        finally:
            await evening.stop_load()


def _reads(name: str) -> tuple[str, ...]:
    return ("orders.order",) if name == "tap" else tuple(t.name for t in consumed_by(name))


def _tap_env(group: str, **planted: str) -> dict[str, str]:
    """The probe as a tap of ``orders.order`` only, in a schema of its own."""
    return {
        "DB_SCHEMA": group.replace("-", "_"),
        "PROBE_CONSUME": "false",
        "PROBE_TAP_TOPICS": '["orders.order"]',
        **planted,
    }


async def _brand_live(live: LiveApi, seller: Actor) -> tuple[str, str]:
    me = live.auth(Role.SELLER, seller.subject, seller.shop_id)
    room = await live.call("POST", "/rooms", me, {"owner_type": "brand", "title": "品牌自播"}, 201)
    room_id = room.json()["room_id"]
    session = await live.call("POST", f"/rooms/{room_id}/sessions", me, {}, 201)
    return room_id, session.json()["session_id"]


async def _chuanliu_knows_room(evening: Evening) -> None:
    """Chuanliu credits a brand's own-room sale only once it has read the room: wait for it,
    so what the test expects of it does not depend on the order of two topics."""

    async def known() -> bool:
        rows = await _rows(
            evening.infra.database_url,
            evening.schema("chuanliu"),
            "SELECT 1 FROM brand_rooms WHERE room_id = $1",
            evening.room,
        )
        return bool(rows)

    await eventually(known, timeout=60, what="Chuanliu to read the brand's room")


async def _persist(
    evening: Evening, call: Callable[[], Awaitable[httpx.Response]]
) -> httpx.Response:
    """Retry through outages with the same Idempotency-Key (bounded)."""
    last = ""
    for _ in range(300):
        try:
            response = await call()
            if response.status_code < 500:
                assert response.status_code in (200, 201), (response.status_code, response.text)
                return response
            last = f"{response.status_code} {response.text[:200]}"
        except httpx.HTTPError as exc:
            last = repr(exc)
        evening.errors.append(last)
        await asyncio.sleep(0.1)
    raise AssertionError(f"the orders service did not come back: {evening.errors[-3:]}")


async def _shopper(evening: Evening, n: int) -> None:
    api, loop = evening.api, asyncio.get_running_loop()
    channel = ("distribution", "live_room")[n % 2]
    attribution = (
        {"promotion_ref": evening.reference}
        if channel == "distribution"
        else {"room_id": evening.room, "anchor_id": evening.seller.shop_id}
    )
    deadline = loop.time() + 300  # bounded in time and count
    for i in range(2000):
        if evening.stopping.is_set() or loop.time() > deadline:
            return
        buyer, key = api.buyer(f"fault-{n}-{i}-{uuid.uuid4().hex[:4]}"), uuid.uuid4().hex
        body = {"sku_id": evening.sku, "quantity": 1, "channel": channel, **attribution}
        placed = await _persist(
            evening, functools.partial(api.post, "/orders", buyer, body, key=f"place-{key}")
        )
        oid = placed.json()["order_id"]
        await _persist(
            evening, functools.partial(api.post, f"/orders/{oid}/pay", buyer, key=f"pay-{key}")
        )
        evening.done.append(Acknowledged(oid, buyer.subject, channel))
        await asyncio.sleep(0.5)  # a steady load (~8 orders/s), not a flood


# --- the faults ---------------------------------------------------------------------------


async def test_services_killed_and_paused_under_load_lose_nothing_and_double_nothing(
    infra: Infra,
) -> None:
    async with evening_under_load(infra, **_planted_on_tap()) as evening:
        for name in (*SERVICES, "tap"):  # kill -9 each process mid-load, then restart it
            await evening.progressed()
            await evening.restart(name)
        await evening.progressed()
        evening.procs["scoring"].pause()  # past max.poll.interval: its group rebalances
        await asyncio.sleep(12)
        evening.procs["scoring"].resume()
        evening.report.append("scoring paused 12 s (> max.poll.interval 10 s), resumed")
        await evening.progressed()
        await reconcile(evening)


async def test_broker_and_database_crashes_under_load_lose_nothing_and_double_nothing(
    infra: Infra,
) -> None:
    if infra.kafka_node is None or infra.postgres_node is None:
        pytest.skip(
            "Kafka and Postgres come from the environment (KAFKA_BOOTSTRAP_SERVERS, "
            "DATABASE_URL): this session cannot crash them; unset both to run this test"
        )
    async with evening_under_load(infra, **_planted_on_tap()) as evening:
        await evening.progressed()
        infra.kafka_node.kill()
        # The tap dies with the broker: what it applied since its last commit comes again.
        evening.procs["tap"].kill()
        await asyncio.sleep(1)
        infra.kafka_node.start()
        evening.procs["tap"].start()
        await evening.procs["tap"].wait_ready()
        evening.report.append("Kafka broker and the tap killed (SIGKILL), both restarted")
        await evening.progressed()
        infra.postgres_node.stop(mode="immediate")
        await asyncio.sleep(1)
        infra.postgres_node.start()
        evening.report.append("Postgres stopped (immediate: no checkpoint) and restarted")
        await evening.progressed()
        await reconcile(evening)


def _planted_on_tap() -> dict[str, str]:
    """``LAOTIE_TEST_PLANT=consumer.dedup_off`` runs the tap with that bug planted: the test
    must then fail (the check that these tests can fail at all)."""
    plant = os.environ.get("LAOTIE_TEST_PLANT")
    return {"FAULTS": plant} if plant else {}


# --- the reconciliation -------------------------------------------------------------------


async def reconcile(evening: Evening) -> None:
    """Every effect equals the client's list of acknowledged orders, exactly. The load stops
    first; the services keep running, so what they had not yet applied they still apply."""
    await evening.stop_load()
    done = evening.done
    assert len({o.order_id for o in done}) == len(done) > 0
    problems: list[str] = []

    async def reconciled() -> bool:
        problems[:] = await _problems(evening)
        return not problems

    try:
        await eventually(reconciled, timeout=150, interval=1, what="the reconciliation")
    except AssertionError:
        seen = [*problems, *await _dead_letter_problems(evening), *await _failures(evening)]
        raise AssertionError(
            f"after {evening.report}, {len(done)} acknowledged orders:\n" + "\n".join(seen)
        ) from None
    evening.report.append(
        f"reconciled {len(done)} acknowledged orders ({_channels(done)}): each order placed "
        f"and paid once with one event each, stock moved {len(done)}, every consumer's effect "
        "exact, the tap applied each event once, no dead letters"
    )
    print("\n".join(["", "fault injection:", *evening.report]))


def _channels(done: list[Acknowledged]) -> str:
    return ", ".join(f"{n} {c}" for c, n in sorted(Counter(o.channel for o in done).items()))


async def _problems(evening: Evening) -> list[str]:
    events = await _order_events(evening)
    problems = [
        *await _orders_problems(evening),
        *_event_problems(evening, events),
        *await _tap_problems(evening, events),
        *await _live_problems(evening),
        *await _chuanliu_problems(evening),
        *await _scoring_problems(evening),
        *await _moderation_problems(evening),
    ]
    if not problems:
        problems = await _dead_letter_problems(evening)
    return problems


def _diff(what: str, got: dict[str, Any], want: dict[str, Any]) -> list[str]:
    if got == want:
        return []
    missing = sorted(set(want) - set(got))
    extra = sorted(set(got) - set(want))
    wrong = sorted(k for k in set(got) & set(want) if got[k] != want[k])
    return [
        f"{what}: {len(missing)} missing {missing[:3]}, {len(extra)} unexpected {extra[:3]}, "
        f"{len(wrong)} wrong {[(k, got[k], want[k]) for k in wrong[:3]]}"
    ]


async def _orders_problems(evening: Evening) -> list[str]:
    url, schema = evening.infra.database_url, evening.schema("orders")
    rows = await _rows(
        url, schema, "SELECT order_id, status FROM orders WHERE sku_id = $1", evening.sku
    )
    [stock] = await _rows(url, schema, "SELECT stock FROM skus WHERE sku_id = $1", evening.sku)
    problems = _diff(
        "orders of the SKU (status)",
        {r["order_id"]: r["status"] for r in rows},
        {o.order_id: "paid" for o in evening.done},
    )
    if stock["stock"] != STOCK - len(evening.done):
        problems.append(f"stock {stock['stock']}, want {STOCK} - {len(evening.done)}")
    return problems


async def _order_events(evening: Evening) -> dict[str, Counter[str]]:
    """Per acknowledged order, how often each event id of it was read on ``orders.order``
    (a relay may republish a record; the ids are what must be unique per fact)."""
    ours = {o.order_id for o in evening.done}
    seen: dict[str, Counter[str]] = defaultdict(Counter)
    for r in await read_topic(evening.infra.kafka_bootstrap, "orders.order", timeout=60):
        key = (r.key or b"").decode()
        if key in ours:
            seen[key][f"{header(r, 'ce_type')} {header(r, 'ce_id')}"] += 1
    return seen


def _event_problems(evening: Evening, events: dict[str, Counter[str]]) -> list[str]:
    """Each acknowledged order has exactly one placed and one paid event on the topic."""
    got = {
        oid: sorted(entry.split()[0] for entry in events.get(oid, Counter()))
        for oid in (o.order_id for o in evening.done)
    }
    return _diff(
        "event types per order on orders.order",
        got,
        {o.order_id: [PAID, PLACED] for o in evening.done},
    )


async def _tap_problems(evening: Evening, events: dict[str, Counter[str]]) -> list[str]:
    """The delivery core applied each of these events exactly once, whatever the faults."""
    wanted = {entry.split()[1] for counts in events.values() for entry in counts}
    rows = await _rows(
        evening.infra.database_url,
        evening.schema("tap"),
        "SELECT event_id, count(*) AS n FROM tapped_events WHERE event_key = ANY($1)"
        " GROUP BY event_id",
        [o.order_id for o in evening.done],
    )
    return _diff(
        "applications per event (tap)",
        {r["event_id"]: r["n"] for r in rows},
        dict.fromkeys(wanted, 1),
    )


async def _live_problems(evening: Evening) -> list[str]:
    rows = await _rows(
        evening.infra.database_url,
        evening.schema("live"),
        "SELECT order_id, paid, paid_fen FROM session_orders WHERE session_id = $1",
        evening.session,
    )
    return _diff(
        "live session orders (paid, paid_fen)",
        {r["order_id"]: (r["paid"], r["paid_fen"]) for r in rows},
        {o.order_id: (True, PRICE_FEN) for o in evening.done if o.channel == "live_room"},
    )


async def _chuanliu_problems(evening: Evening) -> list[str]:
    url, schema, brand = (
        evening.infra.database_url,
        evening.schema("chuanliu"),
        evening.seller.shop_id,
    )
    affinity = await _rows(
        url,
        schema,
        "SELECT order_id, buyer_id, creator_id, withdrawn FROM affinity WHERE brand_id = $1",
        brand,
    )
    own_room = await _rows(
        url,
        schema,
        "SELECT order_id, buyer_id, gmv_fen, refunded_fen FROM self_broadcast_orders"
        " WHERE brand_id = $1",
        brand,
    )
    return [
        *_diff(
            "Chuanliu affinity (buyer, creator, withdrawn)",
            {r["order_id"]: (r["buyer_id"], r["creator_id"], r["withdrawn"]) for r in affinity},
            {
                o.order_id: (o.buyer_id, evening.creator, False)
                for o in evening.done
                if o.channel == "distribution"
            },
        ),
        *_diff(
            "Chuanliu self-broadcast sales (buyer, gmv, refunded)",
            {r["order_id"]: (r["buyer_id"], r["gmv_fen"], r["refunded_fen"]) for r in own_room},
            {
                o.order_id: (o.buyer_id, PRICE_FEN, 0)
                for o in evening.done
                if o.channel == "live_room"
            },
        ),
    ]


async def _scoring_problems(evening: Evening) -> list[str]:
    url, schema, shop = (
        evening.infra.database_url,
        evening.schema("scoring"),
        evening.seller.shop_id,
    )
    facts = await _rows(
        url,
        schema,
        "SELECT order_id, seller_id, paid_day IS NOT NULL AS paid FROM order_facts"
        " WHERE shop_id = $1",
        shop,
    )
    buckets = await _rows(
        url,
        schema,
        "SELECT kind || ':' || subject_id AS subject, sum(orders) AS orders FROM daily_buckets"
        " WHERE (kind, subject_id) IN (('shop', $1), ('creator', $2), ('creator', $1))"
        " GROUP BY kind, subject_id",
        shop,
        evening.creator,
    )
    # the brand's own room credits no creator (品牌自播): its orders have no seller
    sellers = {"distribution": evening.creator, "live_room": None}
    per_channel = Counter(o.channel for o in evening.done)
    want_buckets = {
        f"shop:{shop}": len(evening.done),
        f"creator:{evening.creator}": per_channel["distribution"],
    }
    return [
        *_diff(
            "scoring order facts (seller, paid)",
            {r["order_id"]: (r["seller_id"], r["paid"]) for r in facts},
            {o.order_id: (sellers[o.channel], True) for o in evening.done},
        ),
        *_diff(
            "scoring daily buckets (orders)",
            {r["subject"]: int(r["orders"]) for r in buckets},
            {k: v for k, v in want_buckets.items() if v},
        ),
    ]


async def _moderation_problems(evening: Evening) -> list[str]:
    """A clean evening: nothing for the Thunder Plan to find on this shop."""
    rows = await _rows(
        evening.infra.database_url,
        evening.schema("moderation"),
        "SELECT code FROM violations WHERE subject_id = $1",
        evening.seller.shop_id,
    )
    return [f"moderation found violations: {[r['code'] for r in rows]}"] if rows else []


async def _failures(evening: Evening) -> list[str]:
    """Each consumer's failed attempts by error class (for a failure's message)."""
    lines = []
    for name in CONSUMERS:
        with contextlib.suppress(Exception):
            text = await evening.procs[name].metrics()
            failed = Counter[str]()
            for family in text_string_to_metric_families(text):
                if family.name == "laotie_consumer_errors":
                    for sample in family.samples:
                        if sample.name.endswith("_total"):
                            failed[sample.labels["error_class"]] += int(sample.value)
            lines.append(f"{name} failed attempts: {dict(failed) or 'none'}")
    return lines


async def _dead_letter_problems(evening: Evening) -> list[str]:
    problems = []
    for name in CONSUMERS:
        group = evening.procs[name].env_vars["CONSUMER_GROUP"]
        topic = dead_letter_topic("probe" if name == "tap" else name).name
        letters = [
            r
            for r in await read_topic(evening.infra.kafka_bootstrap, topic, timeout=30)
            if header(r, "dlq_consumer") == group
        ]
        if letters:
            problems.append(
                f"{name} dead-lettered {len(letters)}: {header(letters[0], 'dlq_reason')}"
            )
    return problems
