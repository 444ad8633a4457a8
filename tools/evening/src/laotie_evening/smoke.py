"""The smoke flow of ``make run`` until the domain services exist: the probe service as a real
process, driven over HTTP, its events through outbox → relay → Kafka → idempotent consumer."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
from laotie_common.auth import Role, mint_token
from laotie_common.metrics_text import total
from laotie_probe.probe import ProbeSettings
from laotie_stack.procs import free_port, tail, wait_until
from laotie_stack.stack import StackPaths, project_root


def run_smoke(events: int = 200, seed: int | None = None) -> dict[str, Any]:
    root = project_root()
    paths = StackPaths(root)
    settings = ProbeSettings()
    env = {
        **os.environ,
        "KAFKA_BOOTSTRAP_SERVERS": settings.kafka_bootstrap_servers,
        "DATABASE_URL": settings.database_url,
        "LOG_FORMAT": "json",
    }
    subprocess.run(
        [sys.executable, "-m", "laotie_cli", "topics", "create", "--probe", "--quiet"],
        check=True,
        env=env,
        cwd=root,
    )
    subprocess.run(
        [sys.executable, "-m", "laotie_probe.probe", "migrate"],
        check=True,
        env=env,
        cwd=root,
        stdout=subprocess.DEVNULL,
    )
    port = free_port()
    paths.logs.mkdir(parents=True, exist_ok=True)
    log_file = paths.logs / "probe.log"
    with open(log_file, "ab") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "laotie_probe.probe", "serve"],
            env={**env, "HTTP_PORT": str(port)},
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            cwd=root,
        )
    url = f"http://127.0.0.1:{port}"
    token = mint_token(settings, subject="make-run", role=Role.OPERATOR)
    auth = {"Authorization": f"Bearer {token}"}
    key = f"smoke-{seed if seed is not None else int(time.time())}-{os.getpid()}"
    report: dict[str, Any] = {"probe_key": key, "events_requested": events}
    try:
        with httpx.Client(base_url=url, timeout=30) as http:

            def ready() -> bool:
                if proc.poll() is not None:
                    raise RuntimeError(f"probe exited with {proc.returncode}:\n{tail(log_file)}")
                try:
                    return http.get("/readyz").status_code == 200
                except httpx.HTTPError:
                    return False

            wait_until(ready, timeout=60, what="the probe service's /readyz")
            print(f"probe service ready on {url}", file=sys.stderr)
            unauthenticated = http.post("/probes", json={"probe_key": key})
            report["no_token_status"] = unauthenticated.status_code
            report["no_token_content_type"] = unauthenticated.headers.get("content-type")
            started = time.monotonic()
            first = http.post(
                "/probes",
                json={"probe_key": key, "count": events},
                headers={**auth, "Idempotency-Key": f"{key}-1"},
            )
            first.raise_for_status()
            retry = http.post(
                "/probes",
                json={"probe_key": key, "count": events},
                headers={**auth, "Idempotency-Key": f"{key}-1"},
            )
            report["idempotent_retry_same_answer"] = retry.json() == first.json()
            report["idempotent_retry_replayed"] = retry.headers.get("Idempotent-Replayed")

            def applied() -> bool:
                summary = http.get("/probes/summary", params={"probe_key": key}).json()
                print(f"  applied {summary['applied']}/{events}", file=sys.stderr, end="\r")
                return bool(summary["applied"] >= events)

            wait_until(
                applied, timeout=120, what=f"{events} probe events to be applied", interval=0.25
            )
            print(file=sys.stderr)
            report["seconds_to_apply_all"] = round(time.monotonic() - started, 3)
            summary = http.get("/probes/summary", params={"probe_key": key}).json()
            metrics = http.get("/metrics").text
        report.update(
            {
                "events_written": len(first.json()["event_ids"]),
                "events_applied": summary["applied"],
                "distinct_events_applied": summary["distinct_events"],
                "latency_p50_ms": round(float(summary["p50_s"]) * 1000, 1),
                "latency_p95_ms": round(float(summary["p95_s"]) * 1000, 1),
                "published_by_relay": total(
                    metrics, "laotie_outbox_published_total", topic=settings.probe_topic
                ),
                "consumer_applied": total(
                    metrics, "laotie_consumer_records_total", outcome="applied"
                ),
                "dead_letters": total(metrics, "laotie_dead_letters_total"),
            }
        )
    finally:
        proc.terminate()
        try:
            report["probe_exit_code"] = proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            report["probe_exit_code"] = "killed after 60s"
        # uvicorn re-raises SIGTERM after its graceful shutdown, so -15 is a clean exit too.
        report["graceful_stop"] = report["probe_exit_code"] in (0, -15) and (
            "service stopped" in tail(log_file, 5)
        )
    report["ok"] = (
        report["events_applied"] == events
        and report["distinct_events_applied"] == events
        and report["dead_letters"] == 0
        and report["idempotent_retry_same_answer"]
        and report["no_token_status"] == 401
        and report["graceful_stop"]
    )
    (paths.home / "run-report.json").write_text(json.dumps(report, indent=2))
    return report


def print_report(report: dict[str, Any]) -> None:
    rows = [
        ("events written via HTTP → outbox", report["events_written"]),
        ("published by the relay", int(report["published_by_relay"])),
        ("applied by the consumer", report["events_applied"]),
        ("applied more than once", report["events_applied"] - report["distinct_events_applied"]),
        ("dead letters (expected 0)", int(report["dead_letters"])),
        (
            "commit → effect latency p50 / p95",
            f"{report['latency_p50_ms']} ms / {report['latency_p95_ms']} ms",
        ),
        (
            "retry with same Idempotency-Key",
            "same answer" if report["idempotent_retry_same_answer"] else "DIFFERENT answer",
        ),
        (
            "command without a token",
            f"{report['no_token_status']} {report['no_token_content_type']}",
        ),
        (
            "graceful stop on SIGTERM",
            "yes" if report["graceful_stop"] else f"NO (exit {report['probe_exit_code']})",
        ),
    ]
    width = max(len(r[0]) for r in rows)
    print("\nLaotie smoke run — the delivery path end to end")
    print("-" * (width + 24))
    for label, value in rows:
        print(f"{label:<{width}}  {value}")
    print("-" * (width + 24))
    print(
        "RESULT:",
        "OK" if report["ok"] else "FAILED",
        f"(report in {Path('.laotie/run-report.json')})",
    )
