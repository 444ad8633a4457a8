"""The event catalogue: committed schemas, the compatibility gate, AsyncAPI, examples."""

from __future__ import annotations

import copy
import json
import subprocess
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from laotie_artefacts import catalogue
from laotie_contracts import all_topics
from laotie_contracts.events import Event, event
from pydantic import Field

ROOT = Path(__file__).resolve().parents[2]


def _committed(ce_type: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((ROOT / f"schemas/events/{ce_type}/v1.json").read_text())
    return data


def test_contracts_are_compatible_with_the_committed_schemas() -> None:
    assert catalogue.gate(ROOT) == []


def test_committed_catalogue_is_what_the_contracts_generate() -> None:
    assert catalogue.drift(ROOT) == [], "run `make contracts` and commit the result"


def _paid() -> dict[str, Any]:
    return copy.deepcopy(_committed("orders.order.paid"))


def _breaks(new: dict[str, Any]) -> list[str]:
    return catalogue.breaking_changes("orders.order.paid", _committed("orders.order.paid"), new)


def test_the_gate_fails_on_planted_breaking_changes_and_says_where() -> None:
    removed = _paid()
    del removed["properties"]["total_fen"]
    renamed = _paid()
    renamed["properties"]["total_amount_fen"] = renamed["properties"].pop("buyer_id")
    retyped = _paid()
    retyped["properties"]["quantity"] = {"type": "string"}
    required = _paid()
    required["required"] = [*required["required"], "refunded_fen"]
    nested = _paid()
    del nested["$defs"]["Attribution"]["properties"]["creator_id"]
    for new, field, what in (
        (removed, "total_fen", "removed"),
        (renamed, "buyer_id", "removed or renamed"),
        (retyped, "quantity", "changed type"),
        (required, "refunded_fen", "became required"),
        (nested, "attribution.creator_id", "removed"),
    ):
        problems = _breaks(new)
        assert len(problems) == 1, problems
        assert problems[0].startswith("orders.order.paid: ")
        assert f"'{field}'" in problems[0]
        assert what in problems[0]
        assert "new major version" in problems[0]


def test_the_gate_lets_an_optional_field_and_new_descriptions_pass() -> None:
    added = _paid()
    added["properties"]["gift_message"] = {"anyOf": [{"type": "string"}, {"type": "null"}]}
    added["properties"]["total_fen"]["description"] = "reworded"
    assert _breaks(added) == []


def test_the_gate_notices_a_removed_event_type(tmp_path: Path) -> None:
    folder = tmp_path / "schemas/events/orders.order.teleported"
    folder.mkdir(parents=True)
    (folder / "v1.json").write_text(json.dumps(_paid()))
    problems = catalogue.gate(tmp_path)
    assert problems == [
        "orders.order.teleported v1: the event type was removed; deprecate it with a date"
        " first (event(..., deprecated=...)) and keep its schema"
    ]


@pytest.mark.parametrize("ce_type", list(catalogue.contract_events()))
def test_every_example_record_validates_against_its_schema(ce_type: str) -> None:
    cls = catalogue.contract_events()[ce_type]
    data = catalogue.example(cls)
    jsonschema.Draft202012Validator(catalogue.event_schema(cls)).validate(data)
    cls.model_validate(data)


def test_deprecation_shows_in_the_schema_and_the_catalogue(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    @event(
        "orders.order.legacy_noted", topic="orders.order", key="order_id", deprecated="2027-06-30"
    )
    class LegacyNoted(Event):
        """A fact nobody needs any more."""

        order_id: str
        note: str | None = Field(default=None, deprecated="dropped from 2027-06-30")

    try:
        schema = catalogue.event_schema(LegacyNoted)
        assert schema["deprecated"] is True
        assert schema["x-laotie-deprecated-from"] == "2027-06-30"
        assert schema["properties"]["note"]["deprecated"] is True
        original = catalogue.contract_events
        monkeypatch.setattr(
            catalogue,
            "contract_events",
            lambda: {**original(), LegacyNoted.ce_type: LegacyNoted},
        )
        message = catalogue.asyncapi()["components"]["messages"]["OrdersOrderLegacyNoted"]
        assert message["tags"] == [{"name": "deprecated"}]
        assert "2027-06-30" in message["description"]
        assert "**Deprecated**: no longer sent from 2027-06-30." in catalogue.events_markdown()
    finally:
        from laotie_contracts.events import CATALOGUE

        CATALOGUE.pop("orders.order.legacy_noted", None)


def test_asyncapi_document_passes_the_asyncapi_parser() -> None:
    run = subprocess.run(
        ["node", "validate-asyncapi.mjs", str(ROOT / "docs/asyncapi.yaml")],
        cwd=ROOT / "deploy/validate",
        capture_output=True,
        text=True,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert "0 error(s)" in run.stdout
    # every topic of the registry: 11 streams, 4 audit trails, 5 dead-letter topics
    assert f"{len(all_topics())} channels" in run.stdout
    assert len(all_topics()) == 20
