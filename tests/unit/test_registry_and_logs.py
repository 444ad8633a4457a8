from __future__ import annotations

import json

import pytest
import structlog
from laotie_common.logs import configure_logging, current_event, get_logger, redact
from laotie_contracts import TOPICS, all_topics, dead_letter_topic, topic
from laotie_contracts.events import registry_problems
from laotie_contracts.topics import SERVICES


def test_contract_events_respect_the_registry() -> None:
    assert registry_problems() == []


def test_topics_are_declared_once_and_owned_by_a_service() -> None:
    names = [t.name for t in all_topics()]
    assert len(names) == len(set(names))
    for spec in TOPICS:
        assert spec.owner in SERVICES
        assert spec.name.startswith(f"{spec.owner}.")
        assert set(spec.consumers) <= set(SERVICES)
        assert spec.owner not in spec.consumers


def test_every_consuming_service_has_a_dead_letter_topic() -> None:
    consumers = {c for t in TOPICS for c in t.consumers}
    for service in consumers:
        assert topic(f"{service}.dead-letter") == dead_letter_topic(service)


def test_compacted_latest_scores_keep_forever() -> None:
    cfg = topic("scoring.score-latest").config()
    assert cfg["cleanup.policy"] == "compact"
    assert cfg["retention.ms"] == "-1"


def test_logs_never_carry_tokens() -> None:
    event = redact(
        None,
        "info",
        {
            "authorization": "Bearer abc.def.ghi",
            "note": "sent Bearer abc.def.ghi to x",
            "jwt_secret": "s",
        },
    )
    assert event == {"authorization": "***", "note": "sent Bearer *** to x", "jwt_secret": "***"}
    contact = redact(None, "info", {"error": "bad text: call 13812345678 now", "n": 5})
    assert contact == {"error": "bad text: call 138******** now", "n": 5}
    assert redact(None, "info", {"order": "2026112312345678"}) == {"order": "2026112312345678"}
    assert structlog.get_config()  # structlog is importable and configured by default


def test_acls_follow_the_registry_and_grant_nothing_else() -> None:
    from laotie_contracts.acls import service_acls
    from laotie_contracts.topics import SERVICES, all_topics

    for service in SERVICES:
        acls = service_acls(service)
        writes = {a.name for a in acls if a.resource == "topic" and "Write" in a.operations}
        reads = {a.name for a in acls if a.resource == "topic" and "Read" in a.operations}
        assert writes == {t.name for t in all_topics() if t.owner == service}
        assert reads == {t.name for t in all_topics() if service in t.consumers}
        assert not writes & reads, "a service never reads a topic it writes"
        assert f"{service}.dead-letter" in writes
        groups = [a for a in acls if a.resource == "group"]
        assert [(g.name, g.pattern) for g in groups] == [(service, "prefix")]


def test_lines_logged_while_a_record_is_applied_carry_its_event(
    capsys: pytest.CaptureFixture[str],
) -> None:
    configure_logging("t", fmt="json")
    log = get_logger("t")
    token = current_event.set({"event_id": "e-1", "event_type": "probe.events.sent"})
    try:
        log.info("inside", event_id_seen=True)
    finally:
        current_event.reset(token)
    log.info("outside")
    inside, outside = (json.loads(line) for line in capsys.readouterr().err.splitlines())
    assert (inside["event_id"], inside["event_type"], inside["service"]) == (
        "e-1",
        "probe.events.sent",
        "t",
    )
    assert "event_id" not in outside


def test_an_exceptions_text_is_redacted_as_well(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("t", fmt="json")
    try:
        raise ValueError("sent Bearer abc.def.ghi for 13812345678")
    except ValueError:
        get_logger("t").exception("failed")
    [line] = capsys.readouterr().err.splitlines()
    exception = json.loads(line)["exception"]
    assert "ValueError: sent Bearer *** for 138********" in exception
    assert "abc.def.ghi" not in line
    assert "13812345678" not in line


def test_library_lines_are_redacted_json_and_a_flood_of_one_is_throttled(
    capsys: pytest.CaptureFixture[str],
) -> None:
    import logging

    configure_logging("t", fmt="json")
    library = logging.getLogger("aiokafka.conn")
    for _ in range(100):
        library.error("Unable to connect to %s (caller 13812345678)", "node-1")
    library.info("a fetch detail nobody needs")
    [line] = capsys.readouterr().err.splitlines()
    parsed = json.loads(line)
    assert (parsed["logger"], parsed["level"], parsed["service"]) == ("aiokafka.conn", "error", "t")
    assert parsed["event"] == "Unable to connect to node-1 (caller 138********)"


def test_the_throttle_says_how_many_lines_it_dropped() -> None:
    import logging

    from laotie_common.logs import Throttle

    throttle = Throttle(interval_s=10)

    def record(at: float) -> logging.LogRecord:
        made = logging.LogRecord("aiokafka", logging.ERROR, "f", 1, "down %s", ("x",), None)
        made.created = at
        return made

    passed = [r for r in (record(t) for t in (0, 1, 2, 9.9, 10.5, 11)) if throttle.filter(r)]
    assert [r.created for r in passed] == [0, 10.5]
    assert passed[1].getMessage() == "down x (3 like it dropped in the last 10s)"
