"""A minimal Laotie subscriber that imports nothing of Laotie's: aiokafka, the CloudEvents SDK
and jsonschema only. It reads a topic in its own consumer group, decodes each record as a
CloudEvent (binary mode), checks the data against the schema its ``ce_dataschema`` names,
skips duplicates by ``ce_id`` and prints one line per event.

    python subscriber.py --bootstrap 127.0.0.1:9092 --topic orders.order \\
        --group analytics.orders-feed --schemas ../../schemas --max-records 100

In production keep the processed ids where the effect is stored (same transaction), not in
memory; see docs/subscribers.md.
"""

from __future__ import annotations

import argparse
import asyncio
import json
from pathlib import Path

import jsonschema
from aiokafka import AIOKafkaConsumer
from cloudevents.core.bindings.kafka import KafkaMessage, from_binary
from cloudevents.core.formats.json import JSONFormat

SCHEMA_URL = "https://laotie.dev/schemas/"


_validators: dict[str, jsonschema.Validator] = {}


def validator_for(url: str, schemas: Path) -> jsonschema.Validator:
    """The published schema URL, read (once) from a local copy of the schemas folder."""
    if url not in _validators:
        if not url.startswith(SCHEMA_URL):
            raise ValueError(f"unexpected dataschema {url}")
        schema = json.loads((schemas / url.removeprefix(SCHEMA_URL)).read_text())
        _validators[url] = jsonschema.Draft202012Validator(schema)
    return _validators[url]


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--bootstrap", required=True)
    parser.add_argument("--topic", required=True)
    parser.add_argument("--group", required=True, help="your team's group, e.g. analytics.x")
    parser.add_argument("--schemas", type=Path, required=True, help="folder with events/…")
    parser.add_argument("--max-records", type=int, default=100)
    parser.add_argument("--idle-seconds", type=float, default=5.0)
    args = parser.parse_args()

    consumer = AIOKafkaConsumer(
        args.topic,
        bootstrap_servers=args.bootstrap,
        group_id=args.group,
        auto_offset_reset="earliest",  # a new group starts from the oldest retained record
        enable_auto_commit=False,
    )
    await consumer.start()
    seen: set[str] = set()
    read = 0
    try:
        while read < args.max_records:
            batch = await consumer.getmany(timeout_ms=int(args.idle_seconds * 1000))
            if not batch:
                break
            for records in batch.values():
                for record in records:
                    read += 1
                    headers = {k: v for k, v in record.headers}
                    try:
                        event = from_binary(
                            KafkaMessage(headers=headers, key=record.key, value=record.value),
                            JSONFormat(),
                        )
                        attributes = event.get_attributes()
                        data = event.get_data()
                        validator_for(attributes["dataschema"], args.schemas).validate(data)
                    except Exception as exc:  # not ours to fix: report and move on
                        print(
                            f"SKIP {record.partition}:{record.offset} {type(exc).__name__}: {exc}"[
                                :300
                            ]
                        )
                        continue
                    if attributes["id"] in seen:
                        print(f"DUPLICATE {attributes['id']}")
                        continue
                    seen.add(attributes["id"])
                    key = record.key.decode() if record.key else ""
                    print(f"EVENT {attributes['type']} key={key} id={attributes['id']}")
            await consumer.commit()  # after the effects: at-least-once, deduplicated by ce_id
    finally:
        await consumer.stop()


if __name__ == "__main__":
    asyncio.run(main())
