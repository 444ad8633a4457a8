"""What a subscriber team sees on the real topics: the catalogue holds.

The orders service publishes an order's life; the minimal subscriber of the kit
(``examples/subscriber/subscriber.py``, which imports nothing of Laotie) reads the real topic
in its own group, decodes every record with the CloudEvents SDK and validates its data
against the committed schema its ``ce_dataschema`` header names.
"""

from __future__ import annotations

import ast
import asyncio
import sys
import uuid

import pytest
from laotie_dev.client import OrdersApi

from tests.integration.infra import ROOT, Infra
from tests.integration.kit import ServiceProcess, eventually, header, read_topic

pytestmark = pytest.mark.integration
EXAMPLE = ROOT / "examples/subscriber/subscriber.py"


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


async def test_the_kit_subscriber_reads_and_validates_real_records(
    orders_service: tuple[OrdersApi, ServiceProcess], infra: Infra
) -> None:
    api, _ = orders_service
    seller = await api.new_shop()
    product = await api.new_product(seller)
    buyer = api.buyer()
    order_id = (await api.order(buyer, product["skus"][0]["sku_id"])).json()["order_id"]
    await api.post(f"/orders/{order_id}/pay", buyer, expect=200)

    async def published() -> bool:
        records = await read_topic(infra.kafka_bootstrap, "orders.order", expect=0, timeout=5)
        return sum(r.key == order_id.encode() for r in records) >= 2

    await eventually(published, timeout=30, what="the order's events on orders.order")
    records = await read_topic(infra.kafka_bootstrap, "orders.order", expect=0, timeout=5)
    mine = [r for r in records if r.key == order_id.encode()]
    assert {header(r, "ce_dataschema") for r in mine} == {
        "https://laotie.dev/schemas/events/orders.order.placed/v1.json",
        "https://laotie.dev/schemas/events/orders.order.paid/v1.json",
    }

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
    events = sum(line.startswith("EVENT ") for line in lines)
    skipped = [line for line in lines if line.startswith("SKIP ")]
    print(f"\nkit subscriber: {events} events validated, {len(skipped)} skipped (planted poison)")
    assert events >= 2
    # Skipped: only the garbage other tests plant (no CloudEvent, or no schema named); no
    # record that names a schema fails it.
    assert not [line for line in skipped if " ValidationError:" in line], skipped[:3]
