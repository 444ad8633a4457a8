"""What a subscriber team sees on the real topics: the catalogue holds.

The orders service publishes an order's life; the minimal subscriber of the kit
(``examples/subscriber/subscriber.py``, which imports nothing of Laotie) reads the real topic
in its own group, decodes every record with the CloudEvents SDK and validates its data
against the committed schema its ``ce_dataschema`` header names. Every event of ours on the topic
(a catalogued type, its data the contract) must name a committed
``schemas/events/<type>/v<n>.json`` and be validated, not skipped; only the poison other tests
plant (garbage, unknown types, data breaking the contract) may be skipped.
"""

from __future__ import annotations

import ast
import asyncio
import re
import sys
import uuid

import pytest
from aiokafka import ConsumerRecord
from laotie_contracts import model_for
from laotie_evening.client import OrdersApi
from pydantic import ValidationError

from tests.integration.infra import ROOT, Infra
from tests.integration.kit import ServiceProcess, eventually, header, read_topic

pytestmark = pytest.mark.integration
EXAMPLE = ROOT / "examples/subscriber/subscriber.py"
SCHEMA_NAME = re.compile(
    r"https://laotie\.dev/schemas/events/(?P<type>[a-z0-9_.-]+)/v(?P<version>\d+)\.json"
)


def test_the_example_subscriber_imports_nothing_of_laotie() -> None:
    tree = ast.parse(EXAMPLE.read_text())
    modules = {
        (node.module or "") if isinstance(node, ast.ImportFrom) else alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.Import | ast.ImportFrom)
        for alias in node.names
    }
    assert not any(m.startswith(("laotie", "tests")) for m in modules), modules
    assert "cloudevents.core.bindings.kafka" in modules


def _text(record: ConsumerRecord[bytes, bytes], name: str) -> str | None:
    """A header as text; None when absent or not UTF-8 (then the record is no CloudEvent)."""
    values = [v for k, v in record.headers if k == name]
    try:
        return values[0].decode() if values else None
    except UnicodeDecodeError:
        return None


def _real_event(record: ConsumerRecord[bytes, bytes]) -> bool:
    """A well-formed event of a catalogued type whose data is that type's contract: what a
    producer of ours publishes. Everything else on the topic is poison other tests plant."""
    headers = {name: _text(record, name) for name in ("ce_id", "ce_source", "ce_specversion")}
    ce_type = _text(record, "ce_type")
    model = model_for(ce_type) if ce_type else None
    if model is None or None in headers.values() or headers["ce_specversion"] != "1.0":
        return False
    try:
        model.model_validate_json(record.value)
    except ValidationError:
        return False
    return True


def _committed_schema(record: ConsumerRecord[bytes, bytes]) -> str | None:
    """Why the record does not name a committed schema of its own type, or None if it does."""
    named, ce_type = _text(record, "ce_dataschema"), _text(record, "ce_type")
    match = SCHEMA_NAME.fullmatch(named or "")
    if match is None or match["type"] != ce_type:
        return f"{ce_type} names {named!r}, not schemas/events/{ce_type}/v<n>.json"
    path = ROOT / "schemas" / "events" / match["type"] / f"v{match['version']}.json"
    return None if path.is_file() else f"{ce_type}: {path.relative_to(ROOT)} is not committed"


async def test_the_kit_subscriber_reads_and_validates_real_records(
    orders_service: tuple[OrdersApi, ServiceProcess], infra: Infra
) -> None:
    api, _ = orders_service
    seller = await api.new_shop()
    product = await api.new_product(seller)
    buyer = api.buyer()
    order_id = (await api.order(buyer, product["skus"][0]["sku_id"])).json()["order_id"]
    await api.post(f"/orders/{order_id}/pay", buyer, expect=200)

    async def published() -> list[ConsumerRecord[bytes, bytes]] | None:
        records = await read_topic(infra.kafka_bootstrap, "orders.order", expect=0, timeout=5)
        return records if sum(r.key == order_id.encode() for r in records) >= 2 else None

    # Every record the subscriber must read: those there before it starts.
    records = await eventually(published, timeout=30, what="the order's events on orders.order")
    mine = [r for r in records if r.key == order_id.encode()]
    assert [header(r, "ce_dataschema") for r in mine] == [
        "https://laotie.dev/schemas/events/orders.order.placed/v1.json",
        "https://laotie.dev/schemas/events/orders.order.paid/v1.json",
    ]
    real = [r for r in records if _real_event(r)]
    unschema = sorted({why for r in real if (why := _committed_schema(r))})
    assert unschema == [], "every event read names a committed schema file of its type"

    run = await asyncio.create_subprocess_exec(
        sys.executable,
        str(EXAMPLE),
        "--bootstrap",
        infra.kafka_bootstrap,
        "--topic",
        "orders.order",
        "--group",
        f"analytics.kit-{uuid.uuid4().hex[:8]}",
        "--schemas",
        str(ROOT / "schemas"),
        "--max-records",
        "1000000",
        "--idle-seconds",
        "3",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(run.communicate(), timeout=240)
    assert run.returncode == 0, err.decode()[-2000:]
    lines = out.decode().splitlines()
    ours = [line for line in lines if f"key={order_id} " in line]
    assert [line.split()[1] for line in ours] == ["orders.order.placed", "orders.order.paid"]
    validated = {line.rsplit(" id=", 1)[1] for line in lines if line.startswith("EVENT ")}
    duplicates = {line.split()[1] for line in lines if line.startswith("DUPLICATE ")}
    skipped = {
        tuple(map(int, line.split()[1].split(":"))): line
        for line in lines
        if line.startswith("SKIP ")
    }
    print(f"\nkit subscriber: {len(validated)} events validated, {len(skipped)} skipped")
    unread = [
        (r.partition, r.offset)
        for r in records
        if (r.partition, r.offset) not in skipped
        and _text(r, "ce_id") not in validated | duplicates
    ]
    assert unread == [], "the subscriber read every record there when it started"
    refused = [skipped[(r.partition, r.offset)] for r in real if (r.partition, r.offset) in skipped]
    assert refused == [], "no event of ours was skipped (its schema missing or failing)"
    assert {_text(r, "ce_id") for r in real} <= validated
