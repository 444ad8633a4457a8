"""Hostile HTTP input against the real orders process: each gets its exact 4xx problem, none
is stored.

Oversized bodies (declared and chunked), malformed JSON, wrong types, unknown fields,
negative and huge numbers, and strings Postgres cannot hold (NUL, lone surrogates). Unicode
that *is* valid (emoji, combining marks, right-to-left text, astral characters) round-trips
byte for byte.

Each hostile body is the accepted baseline body with exactly one thing wrong, and the answer
must name that thing: a 422 lists exactly the offending fields, each with the reason; a 400
``invalid-text`` comes only from the handler of text Postgres refuses (NUL), which only a body
that passed validation reaches. A lone surrogate never gets that far: every text field is a
length-constrained string, and pydantic refuses those unless they are valid Unicode (422).
After every refusal the database (products, orders, stock, outbox) is unchanged, and the
baseline body sent next is accepted and changes it by exactly one product and one event: the
refusal was for the named defect, not for the seller, the shop or the rest of the body.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from typing import Any

import asyncpg
import httpx
import pytest
from laotie_evening.client import Actor, OrdersApi

from tests.integration.infra import Infra
from tests.integration.kit import ServiceProcess

pytestmark = pytest.mark.integration

PROBLEMS = "https://laotie.dev/problems/"
INVALID_TEXT = (400, "invalid-text")
INVALID_REQUEST = (422, "invalid-request")
UNPARSABLE = (400, "http-400")  # FastAPI: "There was an error parsing the body"


def _assert_problem(response: httpx.Response, status: int, kind: str) -> dict[str, Any]:
    assert response.headers["content-type"].startswith("application/problem+json"), (
        response.status_code,
        response.text[:300],
    )
    body: dict[str, Any] = response.json()
    assert (response.status_code, body["type"]) == (status, PROBLEMS + kind), body
    assert body["status"] == response.status_code
    assert body["title"]
    return body


async def _state(process: ServiceProcess, infra: Infra) -> tuple[int, int, int, int]:
    """(products, orders, total stock, outbox events) of the service's schema."""
    conn = await asyncpg.connect(
        infra.database_url, server_settings={"search_path": process.env_vars["DB_SCHEMA"]}
    )
    try:
        row = await conn.fetchrow(
            "SELECT (SELECT count(*) FROM products), (SELECT count(*) FROM orders),"
            " (SELECT coalesce(sum(stock), 0) FROM skus), (SELECT count(*) FROM outbox)"
        )
        assert row is not None
        return int(row[0]), int(row[1]), int(row[2]), int(row[3])
    finally:
        await conn.close()


def _product(seller: Actor, **overrides: Any) -> dict[str, Any]:
    """The baseline body (accepted: see _assert_baseline_accepted) with ``overrides``;
    an override of None removes the field."""
    body: dict[str, Any] = {
        "shop_id": seller.shop_id,
        "description": "warm",
        "title": "Scarf",
        "skus": [{"name": "grey", "price_fen": 100, "stock": 5}],
    }
    body.update(overrides)
    return {k: v for k, v in body.items() if v is not None}


def _sku(**overrides: Any) -> dict[str, Any]:
    return {"name": "grey", "price_fen": 100, "stock": 5, **overrides}


async def _post_raw(api: OrdersApi, seller: Actor, content: Any) -> httpx.Response:
    return await api.client.post(
        "/products",
        content=content,
        headers={**api.headers(seller), "content-type": "application/json"},
    )


async def _assert_baseline_accepted(
    api: OrdersApi, process: ServiceProcess, infra: Infra, seller: Actor, before: Any
) -> None:
    """The untouched baseline body is accepted and stores exactly one product (5 in stock)
    with its one event: so the case's refusal was for its defect, and _state sees a write."""
    response = await _post_raw(api, seller, _valid_json(seller))
    assert response.status_code == 201, response.text[:300]
    products, orders, stock, events = before
    assert await _state(process, infra) == (products + 1, orders, stock + 5, events + 1)


# Messages a 422 must carry (pydantic's own wording, fragments of it).
AT_LEAST_0 = "greater than or equal to 0"
NOT_AN_INT = "valid integer"
TOO_BIG_PRICE = "less than or equal to 10000000000"
TOO_BIG_STOCK = "less than or equal to 10000000"
EXTRA = "Extra inputs are not permitted"
NOT_UNICODE = "unable to parse raw data as a unicode string"

# case: (overrides of the baseline body, (status, problem type), {field: message fragment}
# that a 422 must list: exactly these fields)
BAD_PRODUCTS: dict[str, tuple[dict[str, Any], tuple[int, str], dict[str, str]]] = {
    "negative price": (
        {"skus": [_sku(price_fen=-1)]},
        INVALID_REQUEST,
        {"body.skus.0.price_fen": AT_LEAST_0},
    ),
    "negative stock": (
        {"skus": [_sku(stock=-5)]},
        INVALID_REQUEST,
        {"body.skus.0.stock": AT_LEAST_0},
    ),
    "price beyond any bigint": (
        {"skus": [_sku(price_fen=10**30)]},
        INVALID_REQUEST,
        {"body.skus.0.price_fen": TOO_BIG_PRICE},
    ),
    "stock beyond int4": (
        {"skus": [_sku(stock=2**31)]},
        INVALID_REQUEST,
        {"body.skus.0.stock": TOO_BIG_STOCK},
    ),
    "price as a float": (
        {"skus": [_sku(price_fen=99.5)]},
        INVALID_REQUEST,
        {"body.skus.0.price_fen": NOT_AN_INT},
    ),
    "price as a string": (
        {"skus": [_sku(price_fen="one hundred")]},
        INVALID_REQUEST,
        {"body.skus.0.price_fen": NOT_AN_INT},
    ),
    "price as a boolean": (
        {"skus": [_sku(price_fen=True)]},
        INVALID_REQUEST,
        {"body.skus.0.price_fen": NOT_AN_INT},
    ),
    "unknown field": ({"discount": 50}, INVALID_REQUEST, {"body.discount": EXTRA}),
    "unknown sku field": (
        {"skus": [_sku(colour="red")]},
        INVALID_REQUEST,
        {"body.skus.0.colour": EXTRA},
    ),
    "title missing": ({"title": None}, INVALID_REQUEST, {"body.title": "Field required"}),
    "title empty": ({"title": ""}, INVALID_REQUEST, {"body.title": "at least 1 character"}),
    "title too long": (
        {"title": "长" * 201},
        INVALID_REQUEST,
        {"body.title": "at most 200 characters"},
    ),
    "no skus": ({"skus": []}, INVALID_REQUEST, {"body.skus": "at least 1 item"}),
    "skus not a list": (
        {"skus": {"name": "grey"}},
        INVALID_REQUEST,
        {"body.skus": "valid list"},
    ),
    # A lone surrogate is refused by validation: every text field of a body is a
    # length-constrained string, which pydantic refuses unless it is valid Unicode.
    "lone surrogate in the title": (
        {"title": "Sca\ud800rf"},
        INVALID_REQUEST,
        {"body.title": NOT_UNICODE},
    ),
    "lone surrogate in a sku name": (
        {"skus": [_sku(name="\udfff")]},
        INVALID_REQUEST,
        {"body.skus.0.name": NOT_UNICODE},
    ),
    # Valid to the model, refused by Postgres (text holds no NUL): the text handler must
    # answer 400 and the transaction roll back whole (a SKU name fails after the product
    # row was inserted).
    "NUL in the title": ({"title": "Sca\u0000rf"}, INVALID_TEXT, {}),
    "NUL in the description": ({"description": "warm\u0000"}, INVALID_TEXT, {}),
    "NUL in a sku name": ({"skus": [_sku(name="\u0000")]}, INVALID_TEXT, {}),
}


def _assert_errors(body: dict[str, Any], errors: dict[str, str]) -> None:
    """A 422 lists exactly the fields the case made wrong, each for the expected reason."""
    listed = {e["field"]: e["message"] for e in body["errors"]}
    assert set(listed) == set(errors), body["errors"]
    for field, fragment in errors.items():
        assert fragment in listed[field], (field, listed[field])


@pytest.mark.parametrize("case", list(BAD_PRODUCTS))
async def test_bad_product_bodies_are_refused_and_nothing_is_stored(
    orders_service: tuple[OrdersApi, ServiceProcess], infra: Infra, case: str
) -> None:
    api, process = orders_service
    seller = await api.new_shop()
    overrides, (status, kind), errors = BAD_PRODUCTS[case]
    before = await _state(process, infra)
    # json.dumps escapes non-ASCII (ensure_ascii), so a lone surrogate travels as "\ud800".
    response = await _post_raw(api, seller, json.dumps(_product(seller, **overrides)).encode())
    body = _assert_problem(response, status, kind)
    if status == 422:
        _assert_errors(body, errors)
    assert await _state(process, infra) == before
    await _assert_baseline_accepted(api, process, infra, seller, before)


def _valid_json(seller: Actor) -> bytes:
    return json.dumps(_product(seller)).encode()


# case: (the bytes, made from the baseline body, (status, problem type), errors a 422 must
# list; a JSON decode error is located at a character offset, "*" stands for it)
RAW_BODIES: dict[str, tuple[Callable[[Actor], bytes], tuple[int, str], dict[str, str]]] = {
    "malformed JSON": (
        lambda s: _valid_json(s)[:-5],
        INVALID_REQUEST,
        {"*": "JSON decode error"},
    ),
    "not JSON at all": (
        lambda s: b"\xff\xfe\x00garbage",
        INVALID_REQUEST,
        {"*": "JSON decode error"},
    ),
    "a JSON array": (
        lambda s: b"[" + _valid_json(s) + b"]",
        INVALID_REQUEST,
        {"body": "valid dictionary"},
    ),
    "a lone surrogate": (
        lambda s: _valid_json(s).replace(b'"Scarf"', b'"\\ud800"'),
        INVALID_REQUEST,
        {"body.title": NOT_UNICODE},
    ),
    "a lone surrogate in a sku name": (
        lambda s: _valid_json(s).replace(b'"grey"', b'"\\udc00"'),
        INVALID_REQUEST,
        {"body.skus.0.name": NOT_UNICODE},
    ),
    "a NUL escape": (
        lambda s: _valid_json(s).replace(b'"Scarf"', b'"\\u0000"'),
        INVALID_TEXT,
        {},
    ),
    "invalid UTF-8 in a string": (
        lambda s: _valid_json(s).replace(b'"Scarf"', b'"\xc3\x28"'),
        UNPARSABLE,
        {},
    ),
    "deeply nested": (
        lambda s: _valid_json(s).replace(b'"warm"', b"[" * 5000 + b"]" * 5000),
        UNPARSABLE,
        {},
    ),
}


@pytest.mark.parametrize("case", list(RAW_BODIES))
async def test_malformed_bodies_get_a_problem(
    orders_service: tuple[OrdersApi, ServiceProcess], infra: Infra, case: str
) -> None:
    api, process = orders_service
    seller = await api.new_shop()
    make, (status, kind), errors = RAW_BODIES[case]
    before = await _state(process, infra)
    response = await _post_raw(api, seller, make(seller))
    body = _assert_problem(response, status, kind)
    if "*" in errors:  # one JSON decode error, at the offset where the text breaks
        assert [e["message"] for e in body["errors"]] == [errors["*"]], body["errors"]
        assert body["errors"][0]["field"].startswith("body."), body["errors"]
    elif status == 422:
        _assert_errors(body, errors)
    assert await _state(process, infra) == before
    # The same bytes without the defect are accepted.
    await _assert_baseline_accepted(api, process, infra, seller, before)


async def test_oversized_bodies_are_refused_declared_or_chunked(
    orders_service: tuple[OrdersApi, ServiceProcess], infra: Infra
) -> None:
    api, process = orders_service
    seller = await api.new_shop()
    before = await _state(process, infra)
    # A valid body padded with 3 MB of JSON whitespace: only its size is wrong.
    huge = json.dumps(_product(seller)).encode() + b" " * 3_000_000
    declared = await _post_raw(api, seller, huge)
    _assert_problem(declared, 413, "payload-too-large")

    async def stream() -> AsyncIterator[bytes]:  # no Content-Length: Transfer-Encoding: chunked
        for start in range(0, len(huge), 64 * 1024):
            yield huge[start : start + 64 * 1024]

    chunked = await _post_raw(api, seller, stream())
    _assert_problem(chunked, 413, "http-413")
    assert await _state(process, infra) == before
    await _assert_baseline_accepted(api, process, infra, seller, before)


CHANNELS = "'live_room', 'short_video', 'shop_page' or 'distribution'"
# case: (overrides of the baseline order, the errors its 422 must list)
BAD_ORDERS: dict[str, tuple[dict[str, Any], dict[str, str]]] = {
    "quantity 0": ({"quantity": 0}, {"body.quantity": "greater than or equal to 1"}),
    "quantity -1": ({"quantity": -1}, {"body.quantity": "greater than or equal to 1"}),
    "quantity 10**40": ({"quantity": 10**40}, {"body.quantity": "less than or equal to 999"}),
    "quantity 1.5": ({"quantity": 1.5}, {"body.quantity": NOT_AN_INT}),
    "quantity as a string": ({"quantity": "2"}, {"body.quantity": NOT_AN_INT}),
    "quantity null": ({"quantity": None}, {"body.quantity": NOT_AN_INT}),
    "channel empty": ({"channel": ""}, {"body.channel": CHANNELS}),
    "channel unknown": ({"channel": "telepathy"}, {"body.channel": CHANNELS}),
    "channel an emoji": ({"channel": "😀"}, {"body.channel": CHANNELS}),
}


async def test_bad_orders_are_refused_and_stock_is_untouched(
    orders_service: tuple[OrdersApi, ServiceProcess], infra: Infra
) -> None:
    api, process = orders_service
    seller = await api.new_shop()
    product = await api.new_product(seller, stock=5)
    sku_id = product["skus"][0]["sku_id"]
    buyer = api.buyer()
    before = await _state(process, infra)
    for case, (overrides, errors) in BAD_ORDERS.items():
        body = {"sku_id": sku_id, "quantity": 1, "channel": "shop_page", **overrides}
        response = await api.post("/orders", buyer, body)
        _assert_errors(_assert_problem(response, *INVALID_REQUEST), errors)
        assert await _state(process, infra) == before, case
    # A SKU id Postgres cannot hold: refused by the text handler, not "not found".
    response = await api.order(buyer, "\u0000", expect=None)
    _assert_problem(response, *INVALID_TEXT)
    assert await _state(process, infra) == before
    # The baseline order is accepted: one order, one unit of stock, one event.
    await api.order(buyer, sku_id, expect=201)
    products, orders, stock, events = before
    assert await _state(process, infra) == (products, orders + 1, stock - 1, events + 1)


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
    # A path id with a NUL reaches the lookup and is refused as text; one without is 404.
    _assert_problem(await api.client.get("/products/%F0%9F%94%A5%00"), *INVALID_TEXT)
    _assert_problem(await api.client.get("/products/%F0%9F%94%A5"), 404, "not-found")
