"""``laotie``: the developer's command line (``python -m laotie_cli`` works too)."""

# Argument parsing only: each command's work lives in its job's package (laotie_stack,
# laotie_artefacts, laotie_evening, laotie_bench, laotie_ops).

from __future__ import annotations

import argparse
from pathlib import Path


def _cmd_up(args: argparse.Namespace) -> int:
    from laotie_stack import commands

    return commands.up(infra_only=args.infra_only, fresh=args.fresh)


def _cmd_down(_: argparse.Namespace) -> int:
    from laotie_stack import commands

    return commands.down()


def _cmd_status(_: argparse.Namespace) -> int:
    from laotie_stack import commands

    return commands.status()


def _cmd_topics(args: argparse.Namespace) -> int:
    if args.action == "tail":
        from laotie_ops import commands as ops

        if not args.topic:
            print("laotie topics tail needs a TOPIC")
            return 2
        return ops.tail_topic(
            args.topic,
            ce_type=args.type,
            key=args.key,
            from_beginning=args.from_beginning,
            limit=args.max,
            idle_s=args.idle,
        )
    from laotie_stack import commands

    return commands.topics(args.action, probe=args.probe, quiet=args.quiet)


def _cmd_token(args: argparse.Namespace) -> int:
    from laotie_stack import commands

    return commands.token(
        role=args.role,
        sub=args.sub,
        shop_id=args.shop_id,
        ttl=args.ttl,
        private_key=args.private_key,
        kid=args.kid,
    )


def _cmd_keys(args: argparse.Namespace) -> int:
    from laotie_stack import commands

    return commands.keys(out=args.out, kid=args.kid)


def _cmd_smoke(args: argparse.Namespace) -> int:
    from laotie_evening import commands

    return commands.smoke(events=args.events, seed=args.seed)


def _cmd_demo(args: argparse.Namespace) -> int:
    from laotie_evening import commands

    return commands.demo(events=args.events, seed=args.seed)


def _cmd_bench(args: argparse.Namespace) -> int:
    from laotie_bench import commands

    return commands.bench(orders=args.orders, workers=args.workers, rate=args.rate)


def _cmd_dlq(args: argparse.Namespace) -> int:
    from laotie_ops import commands

    return commands.dlq(
        args.action, args.service, args.refs, reason=args.reason, replay_all=args.all
    )


def _cmd_kafka_tool(args: argparse.Namespace) -> int:
    from laotie_stack import commands

    return commands.kafka_tool(args.main_class, args.args)


def _cmd_deploy(args: argparse.Namespace) -> int:
    from laotie_artefacts import commands
    from laotie_stack.stack import project_root

    return commands.deploy(project_root(), args.action)


def _cmd_contracts(args: argparse.Namespace) -> int:
    from laotie_artefacts import commands
    from laotie_stack.stack import project_root

    return commands.contracts(project_root(), args.action)


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
    p = sub.add_parser(
        "topics",
        help="create (idempotently) or list the registry's topics; tail TOPIC as JSON lines",
    )
    p.add_argument("action", choices=["create", "list", "tail"])
    p.add_argument("topic", nargs="?", help="tail: the topic to read")
    p.add_argument("--probe", action="store_true", help="include the probe's topics")
    p.add_argument("--quiet", action="store_true")
    p.add_argument("--type", help="tail: only this CloudEvents type (ce_type)")
    p.add_argument("--key", help="tail: only records with this key")
    p.add_argument("--from-beginning", action="store_true", help="tail: from the oldest record")
    p.add_argument("--max", type=int, help="tail: stop after this many records")
    p.add_argument("--idle", type=float, help="tail: stop after this many quiet seconds")
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
    p.add_argument("--private-key", type=Path, help="sign EdDSA with this PEM (see `keys`)")
    p.add_argument("--kid", help="the key id to name in the token (with --private-key)")
    p.set_defaults(func=_cmd_token)
    p = sub.add_parser("keys", help="make an Ed25519 token-signing key pair and its JWKS")
    p.add_argument("--out", type=Path, required=True, help="folder for private.pem, jwks.json")
    p.add_argument("--kid", default="laotie-1", help="the key id")
    p.set_defaults(func=_cmd_keys)
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
