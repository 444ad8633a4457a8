"""``make bench``: load the running pipeline and print figures (not a test).

On its own fresh stack (.laotie/bench). Figures, in one run on this machine:
1. ceilings (:mod:`laotie_bench.ceilings`): a bare HTTP route on the same server stack and load
   client, Postgres one-row commits and 500-row batches, a bare aiokafka producer and consumer;
2. orders placed and paid per second through the real HTTP API (and the load client's own
   CPU), and each service's applied events per second while it catches up; ratios to 1.;
3. end-to-end latency from an order event's commit (its ce_time) to its effect committed in
   scoring, live and chuanliu — each consumer's own histogram of event age;
4. a flash sale: 2,000 concurrent buyers on one SKU, limit 1 (a quarter try twice):
   reservations per second, p99, oversold units, limit breaches;
5. the orders relay alone publishing 20,000 outbox rows (a topic of their own);
6. each consumer draining the whole ``orders.order`` backlog (20,000 records with the default
   10,000 orders) in a fresh group and schema; scoring also with 2 and 4 replicas;
7. each service's peak RSS.
Every loop is bounded; only loopback addresses are used. Written to ``bench.json``.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import statistics
import subprocess
import sys
import time
import uuid
from collections import defaultdict
from typing import Any

import asyncpg
import httpx
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from laotie_common.kafka import ensure_topics
from laotie_common.metrics_text import samples
from laotie_common.settings import KafkaSettings, ServiceSettings
from laotie_contracts import TopicSpec, all_topics
from laotie_evening.client import Actor, LiveApi, OrdersApi
from laotie_evening.reconcile import reconcile, scrape
from laotie_stack.procs import free_port, wait_until
from laotie_stack.stack import StackPaths, project_root

from laotie_bench import ceilings
from laotie_bench.loadgen import LoadClient


async def bench_topic(bootstrap: str, purpose: str) -> str:
    """A fresh 6-partition topic of the bench's own (an hour's retention); its name."""
    topic = f"bench.{purpose}-{uuid.uuid4().hex[:6]}"
    spec = TopicSpec(
        name=topic,
        owner="bench",
        key="k",
        partitions=6,
        description=f"bench: {purpose}",
        retention_ms=3_600_000,
    )
    await ensure_topics(KafkaSettings(kafka_bootstrap_servers=bootstrap), [spec])
    return topic


async def raw_ceiling(bootstrap: str, messages: int, size: int) -> dict[str, float]:
    topic = await bench_topic(bootstrap, "raw")
    payload = b"x" * size
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap, enable_idempotence=True, acks="all", linger_ms=5
    )
    await producer.start()
    started = time.perf_counter()
    try:
        futures = [
            await producer.send(topic, payload, key=str(i % 997).encode()) for i in range(messages)
        ]
        await asyncio.gather(*futures)
    finally:
        await producer.stop()
    produce_s = time.perf_counter() - started
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        auto_offset_reset="earliest",
        group_id=f"bench-{uuid.uuid4().hex[:6]}",
        enable_auto_commit=False,
    )
    await consumer.start()
    started, seen = time.perf_counter(), 0
    try:
        while seen < messages and time.perf_counter() - started < 120:
            batch = await consumer.getmany(timeout_ms=500, max_records=2000)
            seen += sum(len(r) for r in batch.values())
    finally:
        await consumer.stop()
    consume_s = time.perf_counter() - started
    return {
        "messages": messages,
        "bytes": size,
        "produce_per_s": round(messages / produce_s),
        "consume_per_s": round(seen / consume_s),
    }


def _age_buckets(text: str, consumer: str, topic: str) -> dict[float, float]:
    """A consumer's event-age histogram: cumulative count per upper bound (seconds)."""
    return {
        float(labels["le"]) if labels["le"] != "+Inf" else float("inf"): value
        for labels, value in samples(text, "laotie_consumer_event_age_seconds_bucket")
        if labels.get("consumer") == consumer and labels.get("topic") == topic
    }


def _percentiles(text: str, consumer: str, topic: str, before: str = "") -> dict[str, float | None]:
    """p50/p95/p99 (upper bucket bounds) of a consumer's event-age histogram; with ``before``,
    of what was observed since that scrape."""
    earlier = _age_buckets(before, consumer, topic)
    buckets = sorted(
        (le, count - earlier.get(le, 0.0))
        for le, count in _age_buckets(text, consumer, topic).items()
    )
    if not buckets or buckets[-1][1] == 0:
        return {"p50_ms": None, "p95_ms": None, "p99_ms": None, "events": 0}
    total = buckets[-1][1]

    def at(q: float) -> float:
        return next(le for le, count in buckets if count >= q * total) * 1000

    return {"p50_ms": at(0.50), "p95_ms": at(0.95), "p99_ms": at(0.99), "events": int(total)}


def _growth(finished: list[float], started: float, windows: int = 4) -> dict[str, Any]:
    """Milliseconds per order in successive windows of the run: the orders table, its
    indexes, the idempotency keys and the outbox grow from empty to the run's size."""
    ends = sorted(finished)
    size = len(ends) // windows
    marks = [started, *(ends[size * (w + 1) - 1] for w in range(windows))]
    per_order = [round((b - a) / size * 1000, 3) for a, b in itertools.pairwise(marks)]
    return {
        "orders_at_window_end": [size * (w + 1) for w in range(windows)],
        "ms_per_order": per_order,
        "last_to_first": round(per_order[-1] / per_order[0], 2),
    }


async def pipeline(
    urls: dict[str, str], settings: ServiceSettings, orders: int, workers: int
) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=urls["live"], timeout=60) as live_http:
        anchor, room, _ = await LiveApi(live_http, settings).anchor_live()
    async with httpx.AsyncClient(base_url=urls["orders"], timeout=60) as http:
        api = OrdersApi(http, settings)
        shop = await api.new_shop("brand")
        product = await api.new_product(shop, stock=10**6, price_fen=1990)
        await api.until_live(room)
    sku = product["skus"][0]["sku_id"]
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(orders):
        queue.put_nowait(i)
    latencies: list[float] = []
    finished: list[float] = []
    body = {"sku_id": sku, "quantity": 1, "channel": "live_room"}
    body |= {"room_id": room, "anchor_id": anchor}
    async with LoadClient(urls["orders"], workers * 2) as load:

        async def worker() -> None:
            while not queue.empty():
                i = queue.get_nowait()
                headers = api.headers(api.buyer(f"bench-{i}"))
                t = time.perf_counter()
                status, placed = await load.post("/orders", headers, body)
                assert status == 201, placed
                status, paid = await load.post(f"/orders/{placed['order_id']}/pay", headers)
                assert status == 200, paid
                done = time.perf_counter()
                latencies.append(done - t)
                finished.append(done)

        started, cpu = time.perf_counter(), time.process_time()
        await asyncio.gather(*(worker() for _ in range(workers)))
        load_s = time.perf_counter() - started
        load_cpu = (time.process_time() - cpu) / load_s
    caught = await reconcile(urls, timeout=300)
    drain_s = time.perf_counter() - started
    after = await scrape(urls)
    applied: dict[str, float] = defaultdict(float)
    for service, text in after.items():
        for _, value in samples(text, "laotie_consumer_records_total"):
            applied[service] += value
    latency = {
        s: _percentiles(after[s], s, "orders.order") for s in ("live", "scoring", "chuanliu")
    }
    return {
        "orders": orders,
        "workers": workers,
        "orders_per_s": round(orders / load_s, 1),
        "load_generator_cpu_cores": round(load_cpu, 2),
        "place_and_pay_median_ms": round(statistics.median(latencies) * 1000, 1),
        "caught_up": caught["caught_up"],
        "seconds_until_all_consumers_caught_up": round(drain_s, 1),
        "consumer_events_per_s": {
            s: round(v / drain_s, 1) for s, v in sorted(applied.items()) if v
        },
        "commit_to_effect_latency": latency,
        "growth": _growth(finished, started),
    }


async def open_loop(
    urls: dict[str, str], settings: ServiceSettings, rate: int, seconds: float
) -> dict[str, Any]:
    """Orders placed and paid on a fixed schedule of ``rate`` per second (open loop: a slow
    answer does not slow the offer; at most ``OPEN_LOOP_IN_FLIGHT`` outstanding, the rest
    counted as not offered), then commit → effect per consumer over exactly this phase."""
    async with httpx.AsyncClient(base_url=urls["orders"], timeout=60) as http:
        api = OrdersApi(http, settings)
        shop = await api.new_shop("brand")
        product = await api.new_product(shop, stock=10**6, price_fen=1990)
    body = {"sku_id": product["skus"][0]["sku_id"], "quantity": 1, "channel": "shop_page"}
    before = await scrape(urls)
    loop, skipped = asyncio.get_running_loop(), 0
    tasks: set[asyncio.Task[None]] = set()
    async with LoadClient(urls["orders"], OPEN_LOOP_IN_FLIGHT) as load:

        async def order(i: int) -> None:
            headers = api.headers(api.buyer(f"open-{i}"))
            status, placed = await load.post("/orders", headers, body)
            assert status == 201, placed
            status, paid = await load.post(f"/orders/{placed['order_id']}/pay", headers)
            assert status == 200, paid

        started = loop.time()
        for i in range(int(rate * seconds)):
            await asyncio.sleep(max(0.0, started + i / rate - loop.time()))
            if len(tasks) >= OPEN_LOOP_IN_FLIGHT:
                skipped += 1
                continue
            task = asyncio.create_task(order(i))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
        await asyncio.gather(*tasks)
        elapsed = loop.time() - started
    offered = int(rate * seconds)
    await reconcile(urls, timeout=120)
    after = await scrape(urls)
    return {
        "offered_per_s": rate,
        "seconds": seconds,
        "orders_per_s": round((offered - skipped) / elapsed, 1),
        "not_offered_at_in_flight_limit": skipped,
        "in_flight_limit": OPEN_LOOP_IN_FLIGHT,
        **{
            s: _percentiles(after[s], s, "orders.order", before[s])
            for s in ("live", "scoring", "chuanliu")
        },
    }


async def flash_sale(
    url: str, settings: ServiceSettings, buyers: int, stock: int
) -> dict[str, Any]:
    """``buyers`` concurrent buyers rush one SKU (limit 1 per buyer); every fourth tries twice."""
    async with httpx.AsyncClient(base_url=url, timeout=60) as http:
        api = OrdersApi(http, settings)
        shop = await api.new_shop("brand")
        product = await api.new_product(shop, stock=stock, price_fen=990, per_buyer_limit=1)
        body = {"sku_id": product["skus"][0]["sku_id"], "quantity": 1, "channel": "shop_page"}
        rush = [api.buyer(f"rush-{i}") for i in range(buyers)]
        rush += rush[::4]
        latencies: list[float] = []
        shed = 0
        async with LoadClient(url, connections=buyers) as load:

            async def reserve(buyer: Actor) -> tuple[str, int]:
                nonlocal shed
                headers = api.headers(buyer)
                t = time.perf_counter()
                status, _ = await load.post("/orders", headers, body)
                for _ in range(SHED_RETRIES):  # as an app does: shed, retry after Retry-After
                    if status != 503:
                        break
                    shed += 1
                    await asyncio.sleep(1)
                    status, _ = await load.post("/orders", headers, body)
                latencies.append(time.perf_counter() - t)
                return buyer.subject, status

            started = time.perf_counter()
            results = await asyncio.gather(*(reserve(b) for b in rush))
            elapsed = time.perf_counter() - started
        left = (await api.get(f"/products/{product['product_id']}"))["skus"][0]["stock"]
    won = [subject for subject, status in results if status == 201]
    return {
        "buyers": buyers,
        "requests": len(rush),
        "stock": stock,
        "reserved": len(won),
        "left": left,
        "oversold": max(0, len(won) - stock) + max(0, -left),
        "limit_breaches": len(won) - len(set(won)),
        "errors": sum(1 for _, status in results if status not in (201, 409)),
        "shed_and_retried": shed,
        "reservations_per_s": round(len(won) / elapsed, 1),
        "answers_per_s": round(len(rush) / elapsed, 1),
        "p99_ms": round(statistics.quantiles(latencies, n=100)[98] * 1000, 1),
        "seconds": round(elapsed, 2),
    }


# A rushing buyer shed by the concurrency limit (503) tries again after Retry-After (1 s).
SHED_RETRIES = 30

# The open-loop phase: long enough for steady state, bounded in time and in outstanding orders.
OPEN_LOOP_SECONDS = 10.0
OPEN_LOOP_IN_FLIGHT = 256

# The services reading orders.order, from the registry.
ORDER_CONSUMERS = next(t for t in all_topics() if t.name == "orders.order").consumers


def drain(env: dict[str, str], service: str, replicas: int) -> dict[str, Any]:
    """``replicas`` processes of ``service`` in a fresh consumer group and schema draining the
    whole ``orders.order`` backlog: records finished per second, start-up included."""
    tag = uuid.uuid4().hex[:6]
    service_env = {
        **os.environ,
        **env,
        "DB_SCHEMA": f"{service}_bench_{tag}",
        "CONSUMER_GROUP": f"{service}-bench-{tag}",
        "LOG_FORMAT": "json",
        "LOG_LEVEL": "WARNING",
    }
    module, root = f"laotie_{service}", project_root()
    subprocess.run(
        [sys.executable, "-m", module, "migrate"],
        env=service_env,
        check=True,
        capture_output=True,
        cwd=root,
    )
    ports = [free_port() for _ in range(replicas)]
    target = _published(env, "orders.order")
    started = time.perf_counter()
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", module, "serve"],
            env={**service_env, "HTTP_PORT": str(p)},
            cwd=root,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for p in ports
    ]
    try:
        wait_until(
            lambda: _finished(ports) >= target,
            timeout=600,
            what=f"{replicas} {service} replica(s) to catch up",
            interval=0.5,
        )
        elapsed = time.perf_counter() - started
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.wait(timeout=60)
    return {
        "replicas": replicas,
        "records": target,
        "seconds": round(elapsed, 1),
        "drain_per_s": round(target / elapsed, 1),
    }


async def relay_alone(env: dict[str, str], records: int) -> dict[str, Any]:
    """The orders service's relay publishing ``records`` outbox rows written straight into its
    schema (to a topic of their own that nobody consumes): its rate on its own."""
    topic = await bench_topic(env["KAFKA_BOOTSTRAP_SERVERS"], "relay")
    conn = await asyncpg.connect(env["DATABASE_URL"], server_settings={"search_path": "orders"})
    try:
        await conn.execute(
            "INSERT INTO outbox (event_id, event_type, topic, key, headers, payload)"
            " SELECT gen_random_uuid()::text, 'bench.relay.sent', $1, (g % 997)::text,"
            " jsonb_build_object('ce_type', 'bench.relay.sent'), $2"
            " FROM generate_series(1, $3) AS g",
            topic,
            b"x" * 900,
            records,
        )
        started = time.perf_counter()
        await conn.execute("SELECT pg_notify('laotie_outbox_orders', '')")
    finally:
        await conn.close()
    wait_until(
        lambda: _published(env, topic) >= records,
        timeout=300,
        what="the relay to publish the backlog",
        interval=0.2,
    )
    elapsed = time.perf_counter() - started
    return {"records": records, "publish_per_s": round(records / elapsed)}


async def _partitions(bootstrap: str, topic: str) -> int:
    from laotie_common.kafka import make_admin

    admin = make_admin(KafkaSettings(kafka_bootstrap_servers=bootstrap))
    await admin.start()
    try:
        [described] = await admin.describe_topics([topic])
        return len(described["partitions"])
    finally:
        await admin.close()


def _published(env: dict[str, str], topic: str) -> int:
    text = httpx.get(f"{env['ORDERS_URL']}/metrics", timeout=10).text
    return int(
        sum(
            v
            for labels, v in samples(text, "laotie_outbox_published_total")
            if labels["topic"] == topic
        )
    )


def _finished(ports: list[int]) -> int:
    total = 0.0
    for port in ports:
        try:
            text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
        except httpx.HTTPError:
            continue
        total += sum(
            v
            for labels, v in samples(text, "laotie_consumer_records_total")
            # a duplicate (redelivered after a rebalance) is not a record drained
            if labels["topic"] == "orders.order" and labels.get("outcome") != "duplicate"
        )
    return int(total)


def run_bench(orders: int, workers: int, rate: int) -> dict[str, Any]:
    paths = StackPaths(project_root())
    env = dict(line.split("=", 1) for line in paths.env.read_text().splitlines() if "=" in line)
    settings = ServiceSettings()
    urls = {
        k.removesuffix("_URL").lower(): v
        for k, v in env.items()
        if k.endswith("_URL") and k != "DATABASE_URL"
    }
    print("▸ ceilings: bare HTTP route, Postgres commits and batches, aiokafka", file=sys.stderr)
    kafka = asyncio.run(raw_ceiling(env["KAFKA_BOOTSTRAP_SERVERS"], 20_000, 900))
    ceiling = {
        **ceilings.http(paths.root, workers),
        **asyncio.run(ceilings.postgres(env["DATABASE_URL"])),
        "kafka_produce_per_s": kafka["produce_per_s"],
        "kafka_consume_per_s": kafka["consume_per_s"],
        "kafka_record_bytes": kafka["bytes"],
    }
    print(f"▸ pipeline: {orders} orders placed and paid by {workers} clients", file=sys.stderr)
    flow = asyncio.run(pipeline(urls, settings, orders, workers))
    flow["ratio_to_http_ceiling"] = round(flow["orders_per_s"] * 2 / ceiling["http_rps"], 4)
    print(f"▸ open loop: orders offered at {rate}/s for {OPEN_LOOP_SECONDS} s", file=sys.stderr)
    latency = asyncio.run(open_loop(urls, settings, rate, OPEN_LOOP_SECONDS))
    print("▸ flash sale", file=sys.stderr)
    flash = asyncio.run(flash_sale(urls["orders"], settings, buyers=2000, stock=1000))
    print("▸ the relay alone: 20,000 outbox rows", file=sys.stderr)
    relay = asyncio.run(relay_alone(env, 20_000))
    relay["ratio_to_kafka_produce"] = round(
        relay["publish_per_s"] / ceiling["kafka_produce_per_s"], 3
    )
    print(
        "▸ each consumer draining the orders.order backlog; scoring with 2 and 4", file=sys.stderr
    )
    drains = {service: drain(env, service, 1) for service in ORDER_CONSUMERS}
    scaling = [drains["scoring"], *(drain(env, "scoring", n) for n in (2, 4))]
    state = json.loads(paths.state.read_text())
    result = {
        "ceilings": ceiling,
        "pipeline": flow,
        "latency_ms": latency,
        "growth": flow["growth"],
        "flash_sale": flash,
        "relay": relay,
        "consumers": {
            service: {"drain_per_s": row["drain_per_s"], "records": row["records"]}
            for service, row in drains.items()
        },
        "scoring_replicas": scaling,
        "rss_mb": {
            name: ceilings.peak_rss_mb(svc["pid"])
            for name, svc in sorted(state.get("services", {}).items())
        },
        "cpus": os.cpu_count(),
        "orders_order_partitions": asyncio.run(
            _partitions(env["KAFKA_BOOTSTRAP_SERVERS"], "orders.order")
        ),
    }
    rates = flow["consumer_events_per_s"]
    result["ratios_to_ceiling"] = {
        s: round(r / ceiling["kafka_consume_per_s"], 4) for s, r in rates.items()
    }
    (paths.home / "bench.json").write_text(json.dumps(result, indent=2))
    return result


def print_bench(r: dict[str, Any]) -> None:
    c, p, f = r["ceilings"], r["pipeline"], r["flash_sale"]
    print("\nLaotie benchmark (one run; the machine is noisy — compare medians across runs)")
    print("-" * 88)
    print(
        f"ceilings: bare HTTP route {c['http_rps']:,} req/s; Postgres {c['pg_commit_tps']:,} "
        f"one-row commits/s, {c['pg_batch_rows_per_s']:,} rows/s in batches of 500; "
        f"aiokafka ({c['kafka_record_bytes']} B) produce {c['kafka_produce_per_s']:,}/s, "
        f"consume {c['kafka_consume_per_s']:,}/s"
    )
    print(
        f"orders placed+paid via HTTP: {p['orders_per_s']}/s with {p['workers']} clients "
        f"(median {p['place_and_pay_median_ms']} ms per order) = "
        f"{p['ratio_to_http_ceiling']:.1%} of the bare route; "
        f"load generator {p['load_generator_cpu_cores']} cores"
    )
    print(f"all consumers caught up after {p['seconds_until_all_consumers_caught_up']} s")
    for service, rate in p["consumer_events_per_s"].items():
        print(
            f"  {service:<11} applied {rate:>8}/s   = {r['ratios_to_ceiling'][service]:.2%} "
            "of the raw consume ceiling"
        )
    print("commit → effect latency (ce_time to the effect's commit, per consumer):")
    for service, lat in p["commit_to_effect_latency"].items():
        print(
            f"  {service:<11} p50 ≤ {lat['p50_ms']} ms  p95 ≤ {lat['p95_ms']} ms  "
            f"p99 ≤ {lat['p99_ms']} ms  ({lat['events']} events)"
        )
    o = r["latency_ms"]
    print(
        f"open loop: offered {o['offered_per_s']} orders/s for {o['seconds']} s, placed+paid "
        f"{o['orders_per_s']}/s ({o['not_offered_at_in_flight_limit']} not offered: "
        f"{o['in_flight_limit']} outstanding); commit → effect:"
    )
    for service in ("live", "scoring", "chuanliu"):
        lat = o[service]
        print(
            f"  {service:<11} p50 ≤ {lat['p50_ms']} ms  p95 ≤ {lat['p95_ms']} ms  "
            f"p99 ≤ {lat['p99_ms']} ms  ({lat['events']} events)"
        )
    g = r["growth"]
    print(
        f"growth: ms per order in successive quarters of the pipeline ({g['orders_at_window_end']}"
        f" orders): {g['ms_per_order']} (last/first {g['last_to_first']})"
    )
    print(
        f"flash sale: {f['buyers']} buyers ({f['requests']} requests), stock {f['stock']}: "
        f"{f['reserved']} reserved in {f['seconds']} s ({f['reservations_per_s']}/s, "
        f"answers {f['answers_per_s']}/s, p99 {f['p99_ms']} ms), left {f['left']}, "
        f"oversold {f['oversold']}, limit breaches {f['limit_breaches']}, "
        f"other answers (5xx, …) {f['errors']}"
    )
    print(
        f"each consumer draining the whole orders.order backlog, a fresh group and schema "
        f"({r['orders_order_partitions']} partitions):"
    )
    for service, row in r["consumers"].items():
        print(f"  {service:<11} 1 replica: {row['drain_per_s']}/s ({row['records']} records)")
    for row in r["scoring_replicas"][1:]:
        print(f"  scoring     {row['replicas']} replicas: {row['drain_per_s']}/s")
    relay = r["relay"]
    print(
        f"relay alone: {relay['publish_per_s']:,}/s ({relay['records']:,} rows) = "
        f"{relay['ratio_to_kafka_produce']:.0%} of the raw produce ceiling"
    )
    print("peak RSS (MiB): " + ", ".join(f"{k} {v}" for k, v in r["rss_mb"].items()))
