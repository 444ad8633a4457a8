"""The stack's commands (``laotie up|down|status|topics|token|kafka-tool``); exit codes."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Any

from laotie_contracts import all_topics


def up(*, infra_only: bool, fresh: bool) -> int:
    from laotie_stack.stack import up

    up(services=not infra_only, fresh=fresh)
    return 0


def down() -> int:
    from laotie_stack.stack import down

    down()
    return 0


def status() -> int:
    from laotie_stack.stack import status

    print(json.dumps(status(), indent=2))
    return 0


def topics(action: str, *, probe: bool, quiet: bool) -> int:
    from laotie_common.kafka import ensure_topics
    from laotie_common.settings import KafkaSettings
    from laotie_probe.probe import probe_topics

    specs = [_with_partition_override(s) for s in all_topics()]
    if probe:
        specs += probe_topics("probe.events")
    if action == "list":
        for spec in specs:
            retention = (spec.retention_ms and f"{spec.retention_ms // 86_400_000}d") or "forever"
            print(
                f"{spec.name:<26} owner={spec.owner:<11} partitions={spec.partitions:<3} "
                f"{spec.cleanup_policy:<8} retention={retention:<8} key={spec.key}"
            )
        return 0
    settings = KafkaSettings()
    changes = asyncio.run(ensure_topics(settings, specs))
    if not quiet:
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


def token(
    *,
    role: str,
    sub: str,
    shop_id: str | None,
    ttl: int,
    private_key: Path | None = None,
    kid: str | None = None,
) -> int:
    """Print a bearer token: HS256 with the local dev key, or EdDSA with ``private_key``."""
    from laotie_common.auth import mint_token
    from laotie_common.settings import ServiceSettings

    settings = ServiceSettings(
        database_url="unused", kafka_bootstrap_servers="unused", laotie_env="local"
    )
    pem = private_key.read_text(encoding="utf-8") if private_key else None
    print(
        mint_token(
            settings, subject=sub, role=role, ttl_s=ttl, shop_id=shop_id, private_key=pem, kid=kid
        )
    )
    return 0


def keys(*, out: Path, kid: str) -> int:
    """An Ed25519 key pair for a token issuer: ``private.pem`` (keep it with the issuer) and
    ``jwks.json`` (the public key, for the ``laotie-jwt-public-keys`` ConfigMap)."""
    import json

    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from jwt.algorithms import OKPAlgorithm

    private = Ed25519PrivateKey.generate()
    out.mkdir(parents=True, exist_ok=True)
    pem = private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    (out / "private.pem").write_bytes(pem)
    (out / "private.pem").chmod(0o600)
    public = json.loads(OKPAlgorithm.to_jwk(private.public_key()))
    jwks = {"keys": [{**public, "kid": kid, "alg": "EdDSA", "use": "sig"}]}
    (out / "jwks.json").write_text(json.dumps(jwks, indent=2) + "\n", encoding="utf-8")
    print(f"{out / 'private.pem'} (signing, keep secret), {out / 'jwks.json'} (public)")
    return 0


def kafka_tool(main_class: str, args: list[str]) -> int:
    from laotie_stack.kafka import KafkaNode, ensure_jars
    from laotie_stack.stack import project_root

    root = project_root()
    node = KafkaNode(root, ensure_jars(root, root / ".laotie"), root, 0, 0)
    result = node.tool(main_class, *args)
    sys.stdout.write(result.stdout)
    return 0
