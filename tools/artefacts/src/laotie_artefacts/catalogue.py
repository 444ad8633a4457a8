"""The event catalogue for subscriber teams, generated from the contracts package.

- ``schemas/events/<type>/v<n>.json``: the JSON Schema of each event type and major
  version (``ce_dataschema`` names its published URL, ``laotie_contracts.events.SCHEMA_URI``);
- ``docs/asyncapi.yaml``: an AsyncAPI 3 document of every topic (Kafka bindings from the
  registry), message (CloudEvents headers, payload schema, key) and who sends/receives;
- ``docs/events.md``: the same for people, with an example record per event type.

``breaking_changes`` is the compatibility gate: the contracts against the committed schemas.
Adding an optional field passes; removing, renaming, retyping a field or making it required
fails, naming the event and field: such a change needs a new major version (a new
``version=`` and, for the stream, a ``<topic>.v2``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml
from laotie_contracts import CATALOGUE, all_topics
from laotie_contracts.events import SCHEMA_PATH, Event
from laotie_contracts.topics import TopicSpec

from laotie_artefacts import generated

JSON_SCHEMA = "https://json-schema.org/draft/2020-12/schema"
HEADERS = {
    "ce_id": "Unique id of the event: deduplicate by it (idempotent consumers).",
    "ce_source": "The producing service, e.g. /laotie/orders.",
    "ce_specversion": "CloudEvents version: 1.0.",
    "ce_type": "The event type, e.g. orders.order.paid: the fact, in past tense.",
    "ce_time": "When the fact happened (RFC 3339, UTC).",
    "ce_subject": "The aggregate the event is about (optional).",
    "ce_dataschema": "URL of the JSON Schema of the data (type and major version).",
    "content-type": "application/json",
    "traceparent": "W3C trace context of the command that caused the event.",
    "ce_correlationid": "Id shared by the events one command caused (optional).",
}
REQUIRED_HEADERS = ("ce_id", "ce_source", "ce_specversion", "ce_type", "content-type")


def contract_events() -> dict[str, type[Event]]:
    return {
        t: cls
        for t, cls in sorted(CATALOGUE.items())
        if cls.__module__.startswith("laotie_contracts")
    }


def event_schema(cls: type[Event]) -> dict[str, Any]:
    schema = cls.model_json_schema(mode="serialization")
    out: dict[str, Any] = {
        "$schema": JSON_SCHEMA,
        "$id": cls.dataschema(),
        "title": cls.ce_type,
        "description": (cls.__doc__ or "").strip(),
        "x-laotie-topic": cls.topic,
        "x-laotie-key": cls.key_field,
    }
    if cls.deprecated:
        out["deprecated"] = True
        out["x-laotie-deprecated-from"] = cls.deprecated
    schema.pop("title", None)
    schema.pop("description", None)
    out.update(schema)
    return out


def schema_path(cls: type[Event]) -> str:
    return SCHEMA_PATH.format(type=cls.ce_type, version=cls.version)


# --- the compatibility gate --------------------------------------------------------------


def _resolve(schema: dict[str, Any], root: dict[str, Any]) -> dict[str, Any]:
    ref = schema.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/$defs/"):
        resolved: dict[str, Any] = root.get("$defs", {})[ref.split("/")[-1]]
        return resolved
    return schema


def _shape(schema: dict[str, Any], root: dict[str, Any]) -> Any:
    """What a reader relies on: the JSON type(s), not descriptions, defaults or bounds."""
    schema = _resolve(schema, root)
    if "anyOf" in schema:
        return ("anyOf", tuple(sorted(repr(_shape(s, root)) for s in schema["anyOf"])))
    if "const" in schema or "enum" in schema:
        return ("enum", schema.get("type") or type(schema.get("const", "")).__name__)
    kind = schema.get("type")
    if kind == "array":
        return ("array", _shape(schema.get("items", {}), root))
    if kind == "object" or "properties" in schema:
        return ("object",)
    return (kind, schema.get("format"))


def _compare(
    old: dict[str, Any],
    new: dict[str, Any],
    old_root: dict[str, Any],
    new_root: dict[str, Any],
    where: str,
    problems: list[str],
) -> None:
    old, new = _resolve(old, old_root), _resolve(new, new_root)
    if "anyOf" in old and "anyOf" in new:  # an optional object: compare its object branches
        for a in (_resolve(s, old_root) for s in old["anyOf"]):
            for b in (_resolve(s, new_root) for s in new["anyOf"]):
                if "properties" in a and "properties" in b:
                    _compare(a, b, old_root, new_root, where, problems)
    old_props, new_props = old.get("properties", {}), new.get("properties", {})
    for name, old_field in old_props.items():
        path = f"{where}.{name}" if where else name
        if name not in new_props:
            problems.append(f"field {path!r} was removed or renamed")
            continue
        if _shape(old_field, old_root) != _shape(new_props[name], new_root):
            problems.append(f"field {path!r} changed type")
            continue
        old_child, new_child = _resolve(old_field, old_root), _resolve(new_props[name], new_root)
        if old_child.get("type") == "array":
            old_child = _resolve(old_child.get("items", {}), old_root)
            new_child = _resolve(new_child.get("items", {}), new_root)
        _compare(old_child, new_child, old_root, new_root, path, problems)
    for name in sorted(set(new.get("required", [])) - set(old.get("required", []))):
        path = f"{where}.{name}" if where else name
        problems.append(f"field {path!r} became required")


def breaking_changes(event_type: str, old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """Why ``new`` cannot replace ``old`` under the same major version (empty: it can)."""
    found: list[str] = []
    _compare(old, new, old, new, "", found)
    return [
        f"{event_type}: {p}; that breaks subscribers: publish a new major version instead"
        for p in found
    ]


def gate(root: Path) -> list[str]:
    """Every contract against its committed schema (same type and major version)."""
    problems: list[str] = []
    current = {(cls.ce_type, cls.version): cls for cls in contract_events().values()}
    for path in sorted((root / "schemas/events").glob("*/v*.json")):
        ce_type, version = path.parent.name, int(path.stem.removeprefix("v"))
        committed = json.loads(path.read_text())
        cls = current.get((ce_type, version))
        if cls is None:
            newer = [v for (t, v) in current if t == ce_type and v > version]
            if not newer:
                problems.append(
                    f"{ce_type} v{version}: the event type was removed; deprecate it with a"
                    " date first (event(..., deprecated=...)) and keep its schema"
                )
            continue
        problems += breaking_changes(ce_type, committed, event_schema(cls))
    return problems


# --- AsyncAPI 3 ---------------------------------------------------------------------------


def _message_id(ce_type: str) -> str:
    return "".join(p.title() for p in ce_type.replace("-", ".").replace("_", ".").split("."))


def _channel_id(topic: str) -> str:
    return topic.replace(".", "_").replace("-", "_")


def _topic_binding(spec: TopicSpec) -> dict[str, Any]:
    config = spec.config()
    return {
        "kafka": {
            "topic": spec.name,
            "partitions": spec.partitions,
            "replicas": 3,
            "topicConfiguration": {
                "cleanup.policy": [spec.cleanup_policy],
                "retention.ms": int(config["retention.ms"]),
            },
            "bindingVersion": "0.5.0",
        }
    }


def asyncapi() -> dict[str, Any]:
    events = contract_events()
    schemas: dict[str, Any] = {
        "CloudEventHeaders": {
            "type": "object",
            "description": "CloudEvents 1.0 Kafka protocol binding, binary mode.",
            "required": list(REQUIRED_HEADERS),
            "properties": {
                name: {"type": "string", "description": d} for name, d in HEADERS.items()
            },
        }
    }
    messages: dict[str, Any] = {}
    for ce_type, cls in events.items():
        schema = cls.model_json_schema(
            mode="serialization", ref_template="#/components/schemas/{model}"
        )
        for name, definition in schema.pop("$defs", {}).items():
            if name in schemas and schemas[name] != definition:
                raise ValueError(f"two different schemas named {name!r}")
            schemas[name] = definition
        payload_id = _message_id(ce_type) + "Data"
        schema.pop("title", None)
        schemas[payload_id] = schema
        message: dict[str, Any] = {
            "name": ce_type,
            "title": ce_type,
            "summary": (cls.__doc__ or ce_type).strip().splitlines()[0],
            "contentType": "application/json",
            "headers": {"$ref": "#/components/schemas/CloudEventHeaders"},
            "payload": {"$ref": f"#/components/schemas/{payload_id}"},
            "bindings": {
                "kafka": {
                    "key": {"type": "string", "description": f"the {cls.key_field}"},
                    "bindingVersion": "0.5.0",
                }
            },
            "externalDocs": {"url": cls.dataschema(), "description": "JSON Schema of the data"},
        }
        if cls.deprecated:
            message["description"] = f"Deprecated: no longer sent from {cls.deprecated}."
            message["tags"] = [{"name": "deprecated"}]
        messages[_message_id(ce_type)] = message
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    for spec in all_topics():
        cid = _channel_id(spec.name)
        types = [t for t, cls in events.items() if cls.topic == spec.name]
        channels[cid] = {
            "address": spec.name,
            "description": f"{spec.description} Key: {spec.key}; order holds per key.",
            "messages": {
                _message_id(t): {"$ref": f"#/components/messages/{_message_id(t)}"} for t in types
            },
            "bindings": _topic_binding(spec),
        }
        refs = [{"$ref": f"#/channels/{cid}/messages/{_message_id(t)}"} for t in types]
        operations[f"{spec.owner}_sends_{cid}"] = {
            "action": "send",
            "title": f"{spec.owner} publishes {spec.name}",
            "channel": {"$ref": f"#/channels/{cid}"},
            **({"messages": refs} if refs else {}),
        }
        for consumer in spec.consumers:
            operations[f"{consumer}_receives_{cid}"] = {
                "action": "receive",
                "title": f"{consumer} consumes {spec.name}",
                "channel": {"$ref": f"#/channels/{cid}"},
                **({"messages": refs} if refs else {}),
                "bindings": {
                    "kafka": {
                        "groupId": {"type": "string", "const": consumer},
                        "bindingVersion": "0.5.0",
                    }
                },
            }
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "Laotie events",
            "version": "0.1.0",
            "description": (
                "Every topic Laotie publishes, generated from the contracts package. Records"
                " are CloudEvents 1.0 in Kafka binary mode: attributes in `ce_*` headers, the"
                " JSON data as the value, the aggregate id as the key. See docs/events.md and"
                " docs/subscribers.md."
            ),
        },
        "defaultContentType": "application/json",
        "servers": {
            "production": {
                "host": "laotie-kafka-bootstrap.kafka.svc:9093",
                "protocol": "kafka-secure",
                "description": "SASL_SSL with SCRAM-SHA-512; one KafkaUser per subscriber team.",
            },
            "local": {"host": "127.0.0.1:9092", "protocol": "kafka", "description": "make up"},
        },
        "channels": channels,
        "operations": operations,
        "components": {"messages": messages, "schemas": schemas},
    }


# --- docs/events.md ------------------------------------------------------------------------


def _example_value(name: str, schema: dict[str, Any], root: dict[str, Any]) -> Any:
    schema = _resolve(schema, root)
    if "default" in schema and schema["default"] is not None:
        return schema["default"]
    if "const" in schema:
        return schema["const"]
    if "enum" in schema:
        return schema["enum"][0]
    if "anyOf" in schema:
        options = [s for s in schema["anyOf"] if _resolve(s, root).get("type") != "null"]
        return _example_value(name, options[0], root) if options else None
    kind = schema.get("type")
    if kind == "object" or "properties" in schema:
        return {k: _example_value(k, v, root) for k, v in schema.get("properties", {}).items()}
    if kind == "array":
        item = _example_value(name, schema.get("items", {}), root)
        return [] if item is None else [item]
    if kind == "integer":
        return max(int(schema.get("minimum", 0)), 1 if name.endswith(("_fen", "quantity")) else 0)
    if kind == "number":
        return float(schema.get("minimum", 0.5))
    if kind == "boolean":
        return False
    if schema.get("format") == "date-time":
        return "2026-11-23T12:00:00Z"
    if schema.get("format") == "date":
        return "2026-11-23"
    return f"{name.removesuffix('_id')}-1" if name.endswith("_id") else name


def example(cls: type[Event]) -> dict[str, Any]:
    schema = cls.model_json_schema(mode="serialization")
    data = _example_value(cls.ce_type, schema, schema)
    assert isinstance(data, dict)
    return data


def events_markdown() -> str:
    events = contract_events()
    lines = [
        "# Events: the catalogue",
        "",
        "Generated from `libs/contracts` by `make contracts` (`docs/asyncapi.yaml` is the",
        "machine-readable twin; `docs/subscribers.md` says how to consume). Every record is a",
        "CloudEvent in Kafka binary mode: attributes in headers, JSON data as the value, the",
        "aggregate id as the key; order holds per key. The `ce_dataschema` header names the",
        "JSON Schema of the data, committed under `schemas/events/<type>/v<n>.json`.",
        "",
        "| topic | key | partitions | kept | producer | consumers |",
        "|---|---|---|---|---|---|",
    ]
    for spec in all_topics():
        kept = (
            "compacted, forever"
            if spec.cleanup_policy == "compact"
            else f"{int(spec.config()['retention.ms']) // 86_400_000} days"
        )
        consumers = ", ".join(spec.consumers) or "—"
        lines.append(
            f"| `{spec.name}` | `{spec.key}` | {spec.partitions} | {kept} | {spec.owner} | {consumers} |"
        )
    for spec in all_topics():
        types = [t for t, cls in events.items() if cls.topic == spec.name]
        lines += ["", f"## `{spec.name}`", "", spec.description, ""]
        if not types:
            lines.append(
                "Records parked by the service's consumers, with `dlq_*` headers (reason,"
                " original topic, partition, offset); the value is the original record's."
            )
        for ce_type in types:
            cls = events[ce_type]
            schema = event_schema(cls)
            lines += [
                f"### `{ce_type}` (v{cls.version})",
                "",
                (cls.__doc__ or "").strip(),
                "",
            ]
            if cls.deprecated:
                lines += [f"**Deprecated**: no longer sent from {cls.deprecated}.", ""]
            lines += [
                f"Schema: [`{schema_path(cls)}`](../{schema_path(cls)}) — key: `{cls.key_field}`.",
                "",
                "| field | type | required | deprecated |",
                "|---|---|---|---|",
            ]
            required = set(schema.get("required", []))
            for name, field in schema.get("properties", {}).items():
                shape = _shape(field, schema)
                kind = shape[0] if shape[0] != "anyOf" else "optional"
                dep = "yes" if field.get("deprecated") else ""
                lines.append(f"| `{name}` | {kind} | {'yes' if name in required else ''} | {dep} |")
            record = {
                "key": f"{cls.key_field} value",
                "headers": {
                    "ce_id": "0192f7a0-…",
                    "ce_source": f"/laotie/{spec.owner}",
                    "ce_specversion": "1.0",
                    "ce_type": ce_type,
                    "ce_time": "2026-11-23T12:00:00Z",
                    "ce_dataschema": cls.dataschema(),
                    "content-type": "application/json",
                },
                "value": example(cls),
            }
            lines += [
                "",
                "<details><summary>example record</summary>",
                "",
                "```json",
                json.dumps(record, indent=2, ensure_ascii=False),
                "```",
                "",
                "</details>",
                "",
            ]
    return "\n".join(lines) + "\n"


def files() -> dict[str, str]:
    out = {
        schema_path(cls): json.dumps(event_schema(cls), indent=2, ensure_ascii=False) + "\n"
        for cls in contract_events().values()
    }
    out["docs/asyncapi.yaml"] = (
        "# Generated by `make contracts` (laotie_artefacts/catalogue.py).\n"
        + yaml.safe_dump(asyncapi(), sort_keys=False, allow_unicode=True, width=100)
    )
    out["docs/events.md"] = events_markdown()
    return out


def generate(root: Path) -> list[str]:
    return generated.write(root, files())


def drift(root: Path) -> list[str]:
    return generated.drift(root, files())
