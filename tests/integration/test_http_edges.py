"""Hostile HTTP input against the real orders process: each gets a 4xx problem, none is stored.

Oversized bodies (declared and chunked), malformed JSON, wrong types, unknown fields,
negative and huge numbers, and strings Postgres cannot hold (NUL, lone surrogates). Unicode
that *is* valid (emoji, combining marks, right-to-left text, astral characters) round-trips
byte for byte. After every refusal the SKU's stock and the shop's product list are unchanged.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from typing import Any

import asyncpg
import httpx
import pytest
from laotie_dev.client import Actor, OrdersApi

from tests.integration.infra import Infra
from tests.integration.kit import ServiceProcess

pytestmark = pytest.mark.integration


def _assert_problem(response: httpx.Response, *statuses: int) -> dict[str, Any]:
    assert response.status_code in statuses, (response.status_code, response.text[:300])
    assert response.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = response.json()
    assert body["status"] == response.status_code
    assert body["title"]
    return body


async def _state(process: ServiceProcess, infra: Infra) -> tuple[int, int, int]:
    conn = await asyncpg.connect(
        infra.database_url, server_settings={"search_path": process.env_vars["DB_SCHEMA"]}
    )
    try:
        row = await conn.fetchrow(
            "SELECT (SELECT count(*) FROM products), (SELECT count(*) FROM orders),"
            " (SELECT coalesce(sum(stock), 0) FROM skus)"
        )
        assert row is not None
        return int(row[0]), int(row[1]), int(row[2])
    finally:
        await conn.close()


def _product(seller: Actor, **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "shop_id": seller.shop_id,
        "title": "Scarf",
        "skus": [{"name": "grey", "price_fen": 100, "stock": 5}],
    }
    body.update(overrides)
    return body


def _sku(**overrides: Any) -> dict[str, Any]:
    return {"name": "grey", "price_fen": 100, "stock": 5, **overrides}


BAD_PRODUCTS: dict[str, Any] = {
    "negative price": {"skus": [_sku(price_fen=-1)]},
    "negative stock": {"skus": [_sku(stock=-5)]},
    "price beyond any bigint": {"skus": [_sku(price_fen=10**30)]},
    "stock beyond int4": {"skus": [_sku(stock=2**31)]},
    "price as a float": {"skus": [_sku(price_fen=99.5)]},
    "price as a string": {"skus": [_sku(price_fen="one hundred")]},
    "price as a boolean": {"skus": [_sku(price_fen=True)]},
    "unknown field": {"discount": 50},
    "unknown sku field": {"skus": [_sku(colour="red")]},
    "title missing": {"title": None},
    "title empty": {"title": ""},
    "title too long": {"title": "长" * 201},
    "NUL in the title": {"title": "Sca\u0000rf"},
    "NUL in a sku name": {"skus": [_sku(name="\u0000")]},
    "no skus": {"skus": []},
    "skus not a list": {"skus": {"name": "grey"}},
}


@pytest.mark.parametrize("case", list(BAD_PRODUCTS))
async def test_bad_product_bodies_are_refused_and_nothing_is_stored(
    orders_service: tuple[OrdersApi, ServiceProcess], infra: Infra, case: str
) -> None:
    api, process = orders_service
    seller = await api.new_shop()
    before = await _state(process, infra)
    body = {k: v for k, v in _product(seller, **BAD_PRODUCTS[case]).items() if v is not None}
    response = await api.post("/products", seller, body)
    _assert_problem(response, 400, 422)
    assert await _state(process, infra) == before


RAW_BODIES: dict[str, bytes] = {
    "malformed JSON": b'{"shop_id": "x", "title": ',
    "not JSON at all": b"\xff\xfe\x00garbage",
    "a JSON array": b"[1, 2, 3]",
    "a lone surrogate": b'{"shop_id": "s", "title": "\\ud800", "skus": []}',
    "invalid UTF-8 in a string": b'{"shop_id": "s", "title": "\xc3\x28"}',
    "deeply nested": b'{"title": ' + b"[" * 5000 + b"]" * 5000 + b"}",
}


@pytest.mark.parametrize("case", list(RAW_BODIES))
async def test_malformed_bodies_get_a_problem(
    orders_service: tuple[OrdersApi, ServiceProcess], infra: Infra, case: str
) -> None:
    api, process = orders_service
    seller = await api.new_shop()
    before = await _state(process, infra)
    response = await api.client.post(
        "/products",
        content=RAW_BODIES[case],
        headers={**api.headers(seller), "content-type": "application/json"},
    )
    _assert_problem(response, 400, 422)
    assert await _state(process, infra) == before


async def test_oversized_bodies_are_refused_declared_or_chunked(
    orders_service: tuple[OrdersApi, ServiceProcess], infra: Infra
) -> None:
    api, process = orders_service
    seller = await api.new_shop()
    before = await _state(process, infra)
    huge = json.dumps(_product(seller, description="x" * 3_000_000)).encode()
    declared = await api.client.post(
        "/products",
        content=huge,
        headers={**api.headers(seller), "content-type": "application/json"},
    )
    _assert_problem(declared, 413)

    def chunks() -> Iterator[bytes]:  # no Content-Length: Transfer-Encoding: chunked
        for start in range(0, len(huge), 64 * 1024):
            yield huge[start : start + 64 * 1024]

    async def stream() -> AsyncIterator[bytes]:
        for chunk in chunks():
            yield chunk

    chunked = await api.client.post(
        "/products",
        content=stream(),
        headers={**api.headers(seller), "content-type": "application/json"},
    )
    _assert_problem(chunked, 413)
    assert await _state(process, infra) == before


async def test_bad_orders_are_refused_and_stock_is_untouched(
    orders_service: tuple[OrdersApi, ServiceProcess], infra: Infra
) -> None:
    api, process = orders_service
    seller = await api.new_shop()
    product = await api.new_product(seller, stock=5)
    sku_id = product["skus"][0]["sku_id"]
    buyer = api.buyer()
    before = await _state(process, infra)
    for quantity in (0, -1, 10**40, 1.5, "2", None):
        response = await api.order(buyer, sku_id, quantity=quantity, expect=None)  # type: ignore[arg-type]
        _assert_problem(response, 400, 422)
    for channel in ("", "telepathy", "😀"):
        response = await api.order(buyer, sku_id, channel=channel, expect=None)
        _assert_problem(response, 400, 422)
    response = await api.order(buyer, "\u0000", expect=None)
    _assert_problem(response, 400, 404, 422)
    assert await _state(process, infra) == before


async def test_valid_unicode_round_trips_exactly(
    orders_service: tuple[OrdersApi, ServiceProcess],
) -> None:
    api, _ = orders_service
    seller = await api.new_shop()
    title = "老铁🔥 e\u0301te\u0301 مرحبا 𠀋 \u200dZW"  # emoji, combining marks, RTL, astral, ZWJ
    product = await api.new_product(seller, title=title, description="\U0001f600" * 100)
    fetched = await api.get(f"/products/{product['product_id']}")
    assert fetched["title"] == title
    assert fetched["description"] == "\U0001f600" * 100
    unknown = await api.client.get("/products/%F0%9F%94%A5%00")
    _assert_problem(unknown, 400, 404, 422)
