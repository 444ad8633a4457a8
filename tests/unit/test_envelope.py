from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone

import pytest
from laotie_common.context import current_trace, from_traceparent, new_trace
from laotie_common.envelope import Envelope, parsed
from laotie_common.errors import PoisonRecord
from laotie_probe.probe import ProbeSent

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


def probe(seq: int = 1) -> ProbeSent:
    return ProbeSent(probe_key="k1", seq=seq, sent_at=NOW)


def test_binary_mode_headers_round_trip() -> None:
    env = Envelope.for_event(probe(), source="/laotie/test", time=NOW)
    headers = dict(env.headers())
    assert headers["ce_specversion"] == b"1.0"
    assert headers["ce_type"] == b"probe.events.sent"
    assert headers["ce_source"] == b"/laotie/test"
    assert headers["ce_time"] == b"2026-11-23T12:00:00Z"
    assert headers["ce_subject"] == b"k1"
    assert (
        headers["ce_dataschema"] == b"https://laotie.dev/schemas/events/probe.events.sent/v1.json"
    )
    assert headers["content-type"] == b"application/json"
    assert json.loads(env.data) == {"probe_key": "k1", "seq": 1, "sent_at": "2026-11-23T12:00:00Z"}

    back = Envelope.from_record(b"k1", env.data, env.headers())
    assert back.id == env.id
    assert back.type == env.type
    assert back.time == NOW
    assert back.correlation_id == env.correlation_id
    assert back.traceparent == env.traceparent
    assert back.parse(ProbeSent) == probe()


def test_event_ids_are_time_ordered() -> None:
    ids = [Envelope.for_event(probe(i), source="/t").id for i in range(50)]
    assert ids == sorted(ids)


def test_the_trace_continues_into_caused_events() -> None:
    parent = new_trace("corr-7")
    token = current_trace.set(parent)
    try:
        env = Envelope.for_event(probe(), source="/t")
    finally:
        current_trace.reset(token)
    child = from_traceparent(env.traceparent, env.correlation_id)
    assert child.trace_id == parent.trace_id
    assert child.span_id != parent.span_id
    assert env.correlation_id == "corr-7"


def test_invalid_traceparent_starts_a_new_trace() -> None:
    ctx = from_traceparent("garbage", None)
    assert len(ctx.trace_id) == 32
    assert ctx.correlation_id == ctx.trace_id


def test_times_must_be_aware_and_are_written_in_utc() -> None:
    shanghai = timezone(timedelta(hours=8))
    env = Envelope.for_event(probe(), source="/t", time=datetime(2026, 1, 1, 8, tzinfo=shanghai))
    assert dict(env.headers())["ce_time"] == b"2026-01-01T00:00:00Z"
    naive = Envelope.for_event(probe(), source="/t", time=datetime(2026, 1, 1))
    with pytest.raises(ValueError, match="timezone-aware"):
        naive.headers()


def _headers(**overrides: str | None) -> list[tuple[str, bytes]]:
    base: dict[str, str | None] = {
        "ce_id": "e1",
        "ce_source": "/t",
        "ce_type": "probe.events.sent",
        "ce_specversion": "1.0",
        "ce_time": "2026-11-23T12:00:00Z",
        "content-type": "application/json",
    }
    base.update(overrides)
    return [(k, v.encode()) for k, v in base.items() if v is not None]


@pytest.mark.parametrize(
    ("headers", "value", "reason"),
    [
        ([], b"{}", "missing header(s) ce_id, ce_source, ce_type, ce_specversion"),
        (_headers(ce_type=None), b"{}", "missing header(s) ce_type"),
        (_headers(ce_specversion="0.3"), b"{}", "unsupported ce_specversion"),
        (_headers(**{"content-type": "application/avro"}), b"{}", "unsupported content-type"),
        (_headers(ce_time="yesterday"), b"{}", "ce_time is not RFC 3339"),
        (_headers(ce_time="2026-11-23T12:00:00"), b"{}", "ce_time has no timezone"),
        (_headers(ce_time=None), b"{}", "missing ce_time"),
        (_headers(), None, "no value"),
    ],
)
def test_undecodable_records_are_poison_with_a_reason(
    headers: list[tuple[str, bytes]], value: bytes | None, reason: str
) -> None:
    with pytest.raises(PoisonRecord) as caught:
        Envelope.from_record(b"k", value, headers)
    assert reason in caught.value.reason


def test_non_utf8_key_or_header_is_poison() -> None:
    with pytest.raises(PoisonRecord, match="not UTF-8"):
        Envelope.from_record(b"k", b"{}", [*_headers(), ("x", b"\xff\xfe")])
    with pytest.raises(PoisonRecord, match="key is not UTF-8"):
        Envelope.from_record(b"\xff", b"{}", _headers())


def test_data_that_breaks_the_contract_is_poison_naming_the_field() -> None:
    env = Envelope.from_record(
        b"k", b'{"probe_key": "k", "seq": "x", "sent_at": "bad"}', _headers()
    )
    with pytest.raises(PoisonRecord) as caught:
        env.parse(ProbeSent)
    assert "seq" in caught.value.reason
    assert "sent_at" in caught.value.reason
    with pytest.raises(PoisonRecord, match="not valid JSON"):
        Envelope.from_record(b"k", b"{nope", _headers()).json()


def test_unknown_fields_are_ignored_by_readers() -> None:
    """A newer minor version adds optional fields; old readers must keep working."""
    data = {"probe_key": "k", "seq": 3, "sent_at": "2026-11-23T12:00:00Z", "new_field": [1]}
    env = Envelope.from_record(b"k", json.dumps(data).encode(), _headers(ce_newext="v"))
    assert env.parse(ProbeSent).seq == 3
    assert env.extensions == {"newext": "v"}


async def test_a_parsed_handler_hands_the_model_to_its_use_case() -> None:
    seen: list[tuple[str, ProbeSent]] = []

    async def use_case(unit: str, event: ProbeSent) -> bool:
        seen.append((unit, event))
        return True  # what the use case returns is not the handler's answer

    handle = parsed(ProbeSent, use_case)
    env = Envelope.for_event(probe(7), source="/laotie/test", time=NOW)
    await handle("unit", env)
    assert seen == [("unit", probe(7))]
    broken = Envelope.from_record(b"k", b'{"probe_key": "k"}', _headers())
    with pytest.raises(PoisonRecord):
        await handle("unit", broken)
