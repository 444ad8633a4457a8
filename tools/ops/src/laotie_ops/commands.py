"""``laotie dlq list|show|replay``: a service's dead letters."""

from __future__ import annotations

import asyncio
import json
import sys


def dlq(action: str, service: str, refs: list[str], *, reason: str | None, replay_all: bool) -> int:
    from laotie_common.settings import KafkaSettings

    from laotie_ops.dlq import read_dead_letters, replay

    settings = KafkaSettings()
    letters = asyncio.run(read_dead_letters(settings, service))
    if refs:
        wanted = set(refs)
        letters = [d for d in letters if d.ref in wanted]
        missing = wanted - {d.ref for d in letters}
        if missing:
            print(f"no dead letter {', '.join(sorted(missing))} in {service}", file=sys.stderr)
            return 2
    if reason:
        letters = [d for d in letters if reason in d.reason]
    if action == "list":
        for letter in letters:
            s = letter.summary()
            print(
                f"{s['ref']:<10} {s['original']:<34} {s['event_type'] or '?':<32} "
                f"{s['error_class']:<9} {s['reason']}"
            )
        print(f"{len(letters)} dead letter(s) in {service}", file=sys.stderr)
    elif action == "show":
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
        if not refs and not replay_all and not reason:
            print(
                "name the dead letters to replay (refs), --reason TEXT, or --all", file=sys.stderr
            )
            return 2
        for line in asyncio.run(replay(settings, letters)):
            print(f"replayed {line}")
    return 0


def tail_topic(
    topic: str,
    *,
    ce_type: str | None,
    key: str | None,
    from_beginning: bool,
    limit: int | None,
    idle_s: float | None,
) -> int:
    from laotie_common.settings import KafkaSettings

    from laotie_ops.tail import tail

    try:
        asyncio.run(
            tail(
                KafkaSettings(),
                topic,
                lambda line: print(line, flush=True),
                ce_type=ce_type,
                key=key,
                from_beginning=from_beginning,
                limit=limit,
                idle_s=idle_s,
            )
        )
    except LookupError as missing:
        print(missing, file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        pass
    return 0
