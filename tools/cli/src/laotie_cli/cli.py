"""``laotie``: the developer's command line (``python -m laotie_cli`` works too)."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from typing import Any

from laotie_contracts import all_topics


def _cmd_up(args: argparse.Namespace) -> int:
    from laotie_stack.stack import up

    up(services=not args.infra_only, fresh=args.fresh)
    return 0


def _cmd_down(_: argparse.Namespace) -> int:
    from laotie_stack.stack import down

    down()
    return 0


def _cmd_status(_: argparse.Namespace) -> int:
    from laotie_stack.stack import status

    print(json.dumps(status(), indent=2))
    return 0


def _cmd_topics(args: argparse.Namespace) -> int:
    from laotie_common.kafka import ensure_topics
    from laotie_common.settings import KafkaSettings
    from laotie_probe.probe import probe_topics

    specs = [_with_partition_override(s) for s in all_topics()]
    if args.probe:
        specs += probe_topics("probe.events")
    if args.action == "list":
        for spec in specs:
            retention = (spec.retention_ms and f"{spec.retention_ms // 86_400_000}d") or "forever"
            print(
                f"{spec.name:<26} owner={spec.owner:<11} partitions={spec.partitions:<3} "
                f"{spec.cleanup_policy:<8} retention={retention:<8} key={spec.key}"
            )
        return 0
    settings = KafkaSettings()
    changes = asyncio.run(ensure_topics(settings, specs))
    if not args.quiet:
        for change in changes:
            print(change)
    return 0


def _with_partition_override(spec: Any) -> Any:
    """LAOTIE_TOPIC_PARTITIONS="orders.order=3,live.room=2": other partition counts for local
    experiments (make bench PARTITIONS=...); the registry stays the source for clusters."""
    import dataclasses
    import os

    for item in os.environ.get("LAOTIE_TOPIC_PARTITIONS", "").split(","):
        name, _, count = item.partition("=")
        if name.strip() == spec.name and count.strip().isdigit():
            return dataclasses.replace(spec, partitions=int(count))
    return spec


def _cmd_token(args: argparse.Namespace) -> int:
    from laotie_common.auth import mint_token
    from laotie_common.settings import ServiceSettings

    settings = ServiceSettings(database_url="unused", kafka_bootstrap_servers="unused")
    print(
        mint_token(settings, subject=args.sub, role=args.role, ttl_s=args.ttl, shop_id=args.shop_id)
    )
    return 0


def _cmd_smoke(args: argparse.Namespace) -> int:
    from laotie_evening.smoke import print_report, run_smoke

    report = run_smoke(events=args.events, seed=args.seed)
    print_report(report)
    return 0 if report["ok"] else 1


def _cmd_demo(args: argparse.Namespace) -> int:
    """What `make run` shows: the delivery path, then the services doing their jobs."""
    import time

    from laotie_evening.smoke import print_report, run_smoke
    from laotie_stack.stack import StackPaths, project_root

    seed = args.seed if args.seed is not None else int(time.time())
    print(f"seed {seed} (replay with: make run SEED={seed})")
    smoke = run_smoke(events=args.events, seed=seed)
    paths = StackPaths(project_root())
    env = dict(line.split("=", 1) for line in paths.env.read_text().splitlines() if "=" in line)
    evening = asyncio.run(_evening(env, seed))
    print_report(smoke)
    from laotie_evening.demo_chuanliu import print_chuanliu_report
    from laotie_evening.demo_live import print_live_report
    from laotie_evening.demo_moderation import print_moderation_report
    from laotie_evening.demo_orders import print_orders_report
    from laotie_evening.demo_scoring import print_scoring_report
    from laotie_evening.reconcile import print_reconciliation

    print_orders_report(evening["orders"])
    print_live_report(evening["live"])
    print_moderation_report(evening["moderation"], evening["appeal"])
    print_scoring_report(evening["scores"])
    print_chuanliu_report(evening["chuanliu"], evening["chuanliu"]["impressions_this_evening"])
    oversold = evening["orders"]["flash_sale"]["oversold"]
    print_reconciliation(evening["reconciliation"], oversold)
    report_path = paths.home / "run-report.json"
    report_path.write_text(
        json.dumps({"seed": seed, "delivery": smoke, **evening}, indent=2, default=str)
    )
    ok = (
        smoke["ok"]
        and evening["orders"]["flash_sale"]["oversold"] == 0
        and evening["reconciliation"]["dead_letters"] == 0
        and evening["reconciliation"]["caught_up"]
    )
    print(f"\nreport: {report_path}")
    return 0 if ok else 1


async def _evening(env: dict[str, str], seed: int) -> dict[str, Any]:
    import httpx
    from laotie_common.settings import ServiceSettings
    from laotie_evening import demo_chuanliu
    from laotie_evening.client import LiveApi
    from laotie_evening.demo_live import LiveEvening
    from laotie_evening.demo_moderation import appeal, decisions
    from laotie_evening.demo_orders import orders_walkthrough
    from laotie_evening.demo_scoring import scores
    from laotie_evening.reconcile import reconcile

    settings = ServiceSettings()
    chuanliu_url = env["CHUANLIU_URL"]
    granted_before = await demo_chuanliu.granted_so_far(chuanliu_url)
    brand: dict[str, str] = {}
    async with httpx.AsyncClient(base_url=env["LIVE_URL"], timeout=60) as http:
        evening = LiveEvening(LiveApi(http, settings), seed)

        def step(what: str) -> None:
            print(f"▸ {what}", file=sys.stderr, flush=True)

        async def prepare(
            brand_shop_id: str, products: list[dict[str, Any]]
        ) -> list[tuple[str, str]]:
            step("anchors and creators go live, pin products; viewers arrive")
            brand["id"] = brand_shop_id
            brand["products"] = ",".join(p["product_id"] for p in products)
            await evening.open_rooms()
            await evening.pin(products)
            await evening.crowd()
            return evening.rooms("anchor") + evening.rooms("creator")

        async def brand_live() -> tuple[str, str]:
            step("the brand goes live (品牌自播); Chuanliu grants it traffic; flash sale")
            await evening.open_brand_room(brand["id"])
            await evening.pin([{"product_id": p} for p in brand["products"].split(",")])
            await evening.crowd(owner_type="brand")
            brand_session = next(s for s in evening.sessions if s["owner_type"] == "brand")
            decision = await demo_chuanliu.wait_for_decision(
                chuanliu_url, brand_session["session_id"]
            )
            brand["decision"] = f"{decision['outcome']} ({decision['grants']} buyers)"
            return evening.rooms("brand")[0]

        orders = await orders_walkthrough(env["ORDERS_URL"], settings, seed, prepare, brand_live)
        step("crediting live-room sales to the sessions")
        await evening.wait_for_sales(orders["live_room_gmv_fen"])
        step("an anchor and a viewer post contact details; moderation steps in")
        await evening.misbehave()
        live = await evening.close()
    anchor_id = next(s["owner"] for s in evening.sessions if s["owner_type"] == "anchor")
    step("the banned anchor appeals; a reviewer rejects the appeal")
    appealed = await appeal(env["MODERATION_URL"], settings, anchor_id)
    step("waiting for every consumer to catch up")
    reconciliation = await reconcile(
        {
            k.removesuffix("_URL").lower(): v
            for k, v in env.items()
            if k.endswith("_URL") and k != "DATABASE_URL"
        }
    )
    found = await decisions(env["MODERATION_URL"], settings)
    scored = await scores(env["SCORING_URL"], orders["subjects"])
    creators = sorted(orders["subjects"]["creator"])
    chuanliu = await demo_chuanliu.report(
        chuanliu_url, brand["id"], creators, orders["self_broadcast_paid"]
    )
    chuanliu["session_decision"] = brand.get("decision")
    chuanliu["impressions_this_evening"] = (
        await demo_chuanliu.granted_so_far(chuanliu_url) - granted_before
    )
    return {
        "orders": orders,
        "live": live,
        "moderation": found,
        "appeal": appealed,
        "scores": scored,
        "chuanliu": chuanliu,
        "reconciliation": reconciliation,
    }


def _cmd_bench(args: argparse.Namespace) -> int:
    from laotie_bench.bench import print_bench, run_bench

    result = run_bench(orders=args.orders, workers=args.workers, rate=args.rate)
    print_bench(result)
    flash = result["flash_sale"]
    return 0 if flash["oversold"] == flash["limit_breaches"] == flash["errors"] == 0 else 1


def _cmd_dlq(args: argparse.Namespace) -> int:
    from laotie_common.settings import KafkaSettings
    from laotie_ops.dlq import read_dead_letters, replay

    settings = KafkaSettings()
    letters = asyncio.run(read_dead_letters(settings, args.service))
    if args.refs:
        wanted = set(args.refs)
        letters = [d for d in letters if d.ref in wanted]
        missing = wanted - {d.ref for d in letters}
        if missing:
            print(f"no dead letter {', '.join(sorted(missing))} in {args.service}", file=sys.stderr)
            return 2
    if args.reason:
        letters = [d for d in letters if args.reason in d.reason]
    if args.action == "list":
        for letter in letters:
            s = letter.summary()
            print(
                f"{s['ref']:<10} {s['original']:<34} {s['event_type'] or '?':<32} "
                f"{s['error_class']:<9} {s['reason']}"
            )
        print(f"{len(letters)} dead letter(s) in {args.service}", file=sys.stderr)
    elif args.action == "show":
        print(
            json.dumps(
                [
                    {
                        **d.summary(),
                        "key": (d.key or b"").decode(errors="replace"),
                        "value": (d.value or b"").decode(errors="replace"),
                    }
                    for d in letters
                ],
                indent=2,
                ensure_ascii=False,
            )
        )
    else:
        if not args.refs and not args.all and not args.reason:
            print(
                "name the dead letters to replay (refs), --reason TEXT, or --all", file=sys.stderr
            )
            return 2
        for line in asyncio.run(replay(settings, letters)):
            print(f"replayed {line}")
    return 0


def _cmd_kafka_tool(args: argparse.Namespace) -> int:
    from laotie_stack.kafka import KafkaNode, ensure_jars
    from laotie_stack.stack import project_root

    root = project_root()
    node = KafkaNode(root, ensure_jars(root, root / ".laotie"), root, 0, 0)
    result = node.tool(args.main_class, *args.args)
    sys.stdout.write(result.stdout)
    return 0


def _cmd_deploy(args: argparse.Namespace) -> int:
    from laotie_artefacts import deploy
    from laotie_stack.stack import project_root

    root = project_root()
    if args.action == "generate":
        written = deploy.generate(root)
        print(f"{len(written)} file(s) written" + "".join(f"\n  {p}" for p in written))
        return 0
    problems = deploy.drift(root) if args.action == "check" else deploy.validate(root)
    for problem in problems:
        print(f"FAIL {problem}", file=sys.stderr)
    print("deploy/: ok" if not problems else f"deploy/: {len(problems)} problem(s)")
    return 1 if problems else 0


def _cmd_contracts(args: argparse.Namespace) -> int:
    from laotie_artefacts import catalogue
    from laotie_stack.stack import project_root

    root = project_root()
    problems = catalogue.gate(root)
    for problem in problems:
        print(f"BREAKING {problem}", file=sys.stderr)
    if problems:
        return 1
    if args.action == "generate":
        written = catalogue.generate(root)
        print(f"{len(written)} file(s) written" + "".join(f"\n  {p}" for p in written))
        return 0
    drifted = catalogue.drift(root)
    for path in drifted:
        print(f"FAIL {path}: differs from the contracts (`make contracts`)", file=sys.stderr)
    print("contracts: compatible" + (", catalogue up to date" if not drifted else ""))
    return 1 if drifted else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="laotie", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser(
        "up", help="start Kafka, Postgres and every service; write .laotie/stack.env"
    )
    p.add_argument("--infra-only", action="store_true", help="start Kafka and Postgres only")
    p.add_argument("--fresh", action="store_true", help="delete the stack's data first")
    p.set_defaults(func=_cmd_up)
    sub.add_parser("down", help="stop everything `up` started").set_defaults(func=_cmd_down)
    sub.add_parser("status", help="what runs and whether it answers").set_defaults(func=_cmd_status)
    p = sub.add_parser("topics", help="create (idempotently) or list the registry's topics")
    p.add_argument("action", choices=["create", "list"])
    p.add_argument("--probe", action="store_true", help="include the probe's topics")
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=_cmd_topics)
    p = sub.add_parser("token", help="mint a bearer token for local runs")
    p.add_argument(
        "--role",
        required=True,
        choices=["buyer", "seller", "anchor", "reviewer", "operator", "service"],
    )
    p.add_argument("--sub", required=True, help="the subject (user, shop or service id)")
    p.add_argument("--shop-id", help="required for sellers: the shop they act for")
    p.add_argument("--ttl", type=int, default=3600, help="seconds until it expires")
    p.set_defaults(func=_cmd_token)
    p = sub.add_parser("smoke", help="drive events through the whole delivery path; report")
    p.add_argument("--events", type=int, default=200)
    p.add_argument("--seed", type=int, default=None)
    p.set_defaults(func=_cmd_smoke)
    p = sub.add_parser("demo", help="what `make run` shows, against a running stack")
    p.add_argument("--events", type=int, default=200)
    p.add_argument("--seed", type=int, default=None)
    p.set_defaults(func=_cmd_demo)
    p = sub.add_parser("bench", help="load the running stack and print figures")
    p.add_argument("--orders", type=int, default=10_000)
    p.add_argument("--workers", type=int, default=16)
    p.add_argument("--rate", type=int, default=300, help="open-loop orders offered per second")
    p.set_defaults(func=_cmd_bench)
    p = sub.add_parser("dlq", help="list, show or replay a service's dead letters")
    p.add_argument("action", choices=["list", "show", "replay"])
    p.add_argument("service", help="orders, live, moderation, scoring, chuanliu (or a topic)")
    p.add_argument("refs", nargs="*", help="partition:offset of dead letters (default: all)")
    p.add_argument("--reason", help="only those whose reason contains this text")
    p.add_argument("--all", action="store_true", help="replay: every dead letter")
    p.set_defaults(func=_cmd_dlq)
    p = sub.add_parser("deploy", help="generate deploy/ from code, or check/validate it")
    p.add_argument("action", choices=["generate", "check", "validate"])
    p.set_defaults(func=_cmd_deploy)
    p = sub.add_parser(
        "contracts", help="the compatibility gate; generate or check schemas and the catalogue"
    )
    p.add_argument("action", choices=["generate", "check"])
    p.set_defaults(func=_cmd_contracts)
    p = sub.add_parser("kafka-tool", help="run one of Kafka's own tools from the same jars")
    p.add_argument("main_class", help="e.g. org.apache.kafka.tools.TopicCommand")
    p.add_argument("args", nargs=argparse.REMAINDER)
    p.set_defaults(func=_cmd_kafka_tool)
    args = parser.parse_args(argv)
    result: int = args.func(args)
    return result
