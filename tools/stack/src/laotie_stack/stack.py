"""``make up`` / ``make down``: the local stack, idempotently.

State lives under the ignored ``.laotie/``: ``stack.json`` (what we started: pids, ports,
data folders) and ``stack.env`` (endpoints as KEY=VALUE lines, read by services, tests and
tools). ``KAFKA_BOOTSTRAP_SERVERS`` / ``DATABASE_URL`` in the environment mean "use this
cluster, start nothing".
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from laotie_stack.kafka import KafkaNode, ensure_jars
from laotie_stack.postgres import PostgresNode
from laotie_stack.procs import free_port, pid_alive, port_open, tail, terminate, wait_until


def project_root() -> Path:
    here = Path.cwd().resolve()
    for candidate in (here, *here.parents):
        if (candidate / "deploy/local/kafka/pom.xml").exists():
            return candidate
    raise RuntimeError("run this inside the Laotie repository (no deploy/local/kafka/pom.xml)")


@dataclass
class StackPaths:
    root: Path

    @property
    def home(self) -> Path:
        """Runtime state; ``LAOTIE_HOME`` moves it (tests run a second stack beside yours)."""
        return Path(os.environ.get("LAOTIE_HOME") or self.root / ".laotie")

    @property
    def state(self) -> Path:
        return self.home / "stack.json"

    @property
    def env(self) -> Path:
        return self.home / "stack.env"

    @property
    def logs(self) -> Path:
        return self.home / "logs"


def discover_services(root: Path) -> list[str]:
    """Services are ``services/<name>`` with a package ``laotie_<name>`` that has __main__."""
    found = []
    for folder in sorted((root / "services").glob("*/")):
        if (folder / "src" / f"laotie_{folder.name}" / "__main__.py").exists():
            found.append(folder.name)
    return found


def _load(paths: StackPaths) -> dict[str, Any]:
    if paths.state.exists():
        state: dict[str, Any] = json.loads(paths.state.read_text())
        return state
    return {"services": {}}


def _save(paths: StackPaths, state: dict[str, Any]) -> None:
    paths.home.mkdir(parents=True, exist_ok=True)
    paths.state.write_text(json.dumps(state, indent=2))
    lines = {
        "LAOTIE_ENV": "local",  # the built-in HS256 dev key is accepted here, and only here
        "KAFKA_BOOTSTRAP_SERVERS": state.get("kafka", {}).get("bootstrap"),
        "DATABASE_URL": state.get("postgres", {}).get("url"),
    }
    for name, svc in sorted(state.get("services", {}).items()):
        lines[f"{name.upper()}_URL"] = svc["url"]
    paths.env.write_text("".join(f"{k}={v}\n" for k, v in lines.items() if v))


def _reuse_port(previous: int | None) -> int:
    if previous and not port_open("127.0.0.1", previous):
        return previous
    return free_port()


def _sayer(quiet: bool) -> Callable[[str], None]:
    def say(message: str) -> None:
        if not quiet:
            print(message, file=sys.stderr)

    return say


def up(*, services: bool = True, quiet: bool = False, fresh: bool = False) -> dict[str, Any]:
    root = project_root()
    paths = StackPaths(root)
    if fresh:
        # Start from empty data (make run replays a seeded evening on a clean slate).
        down(quiet=True)
        import shutil

        for folder in ("kafka-data", "postgres", "logs"):
            shutil.rmtree(paths.home / folder, ignore_errors=True)
    state = _load(paths)
    say = _sayer(quiet)

    # --- Kafka -------------------------------------------------------------------------
    external_kafka = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    if external_kafka:
        state["kafka"] = {"bootstrap": external_kafka, "managed": False}
        say(f"kafka: using {external_kafka} from the environment")
    else:
        k = state.get("kafka") or {}
        if k.get("managed") and pid_alive(k.get("pid")) and port_open("127.0.0.1", k["port"]):
            say(f"kafka: already running on {k['bootstrap']} (pid {k['pid']})")
        else:
            libs = ensure_jars(root, root / ".laotie")
            node = KafkaNode(
                root,
                libs,
                paths.home / "kafka-data",
                _reuse_port(k.get("port")),
                _reuse_port(k.get("controller_port")),
            )
            if k.get("controller_port") and node.controller_port != k["controller_port"]:
                # A KRaft node's quorum address is part of its formatted metadata.
                import shutil

                shutil.rmtree(node.data_dir, ignore_errors=True)
            say(f"kafka: starting on {node.bootstrap} ...")
            node.start()
            state["kafka"] = {
                "managed": True,
                "pid": node.pid,
                "port": node.port,
                "controller_port": node.controller_port,
                "bootstrap": node.bootstrap,
                "data_dir": str(node.data_dir),
                "log": str(node.log_file),
            }
            say(f"kafka: ready (pid {node.pid})")
    # --- Postgres ------------------------------------------------------------------------
    external_pg = os.environ.get("DATABASE_URL")
    if external_pg:
        state["postgres"] = {"url": external_pg, "managed": False}
        say("postgres: using DATABASE_URL from the environment")
    else:
        p = state.get("postgres") or {}
        node_pg = PostgresNode(paths.home / "postgres", p.get("port") or free_port())
        if p.get("managed") and node_pg.running():
            say(f"postgres: already running on 127.0.0.1:{node_pg.port}")
        else:
            if port_open("127.0.0.1", node_pg.port):
                node_pg.port = free_port()
            say(f"postgres: starting on 127.0.0.1:{node_pg.port} ...")
            node_pg.start()
            say("postgres: ready")
        state["postgres"] = {
            "managed": True,
            "port": node_pg.port,
            "url": node_pg.url,
            "data_dir": str(node_pg.data_dir),
            "log": str(node_pg.log_file),
        }
    _save(paths, state)

    # --- topics and services -------------------------------------------------------------
    env = {
        **os.environ,
        "LAOTIE_ENV": "local",
        "KAFKA_BOOTSTRAP_SERVERS": state["kafka"]["bootstrap"],
        "DATABASE_URL": state["postgres"]["url"],
    }
    subprocess.run(
        [sys.executable, "-m", "laotie_cli", "topics", "create", "--quiet"],
        check=True,
        env=env,
        cwd=root,
    )
    say("topics: created from the registry")
    if services:
        starting = {}
        for name in discover_services(root):
            svc, proc = _launch_service(paths, name, state["services"].get(name), env, say)
            state["services"][name] = svc
            if proc is not None:
                starting[name] = proc
        _save(paths, state)
        for name, proc in starting.items():
            svc = state["services"][name]
            _await_ready(name, svc, proc)
            say(f"{name}: ready on {svc['url']} (pid {proc.pid}, log {svc['log']})")
        _start_prometheus(paths, state, say)
    _save(paths, state)
    say(f"stack: endpoints in {paths.env}")
    return state


def _start_prometheus(paths: StackPaths, state: dict[str, Any], say: Callable[[str], None]) -> None:
    """A real Prometheus scraping the services with the generated rules, if installed."""
    from laotie_stack import prometheus

    if not prometheus.available():
        say("prometheus: not installed (make deploy-tools); skipped")
        return
    previous = state.get("prometheus") or {}
    if pid_alive(previous.get("pid")) and port_open("127.0.0.1", previous.get("port", 0)):
        say(f"prometheus: already running on {previous['url']}")
        return
    node = prometheus.PrometheusNode(
        paths.root,
        paths.home / "prometheus",
        _reuse_port(previous.get("port")),
        {name: svc["url"].removeprefix("http://") for name, svc in state["services"].items()},
    )
    node.start()
    state["prometheus"] = {"pid": node.pid, "port": node.port, "url": node.url}
    say(
        f"prometheus: {node.url} scraping {len(node.targets)} services with deploy/prometheus rules"
    )


def _launch_service(
    paths: StackPaths,
    name: str,
    previous: dict[str, Any] | None,
    env: dict[str, str],
    say: Callable[[str], None],
) -> tuple[dict[str, Any], subprocess.Popen[bytes] | None]:
    """Migrate and start one service (or keep the running one); do not wait for it."""
    if previous and pid_alive(previous.get("pid")) and port_open("127.0.0.1", previous["port"]):
        say(f"{name}: already running on {previous['url']}")
        return previous, None
    module = f"laotie_{name}"
    subprocess.run([sys.executable, "-m", module, "migrate"], check=True, env=env, cwd=paths.root)
    port = _reuse_port(previous.get("port") if previous else None)
    paths.logs.mkdir(parents=True, exist_ok=True)
    log_file = paths.logs / f"{name}.log"
    service_env = {**env, "HTTP_PORT": str(port), "HTTP_HOST": "127.0.0.1", "LOG_FORMAT": "json"}
    with open(log_file, "ab") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", module, "serve"],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            env=service_env,
            cwd=paths.root,
        )
    url = f"http://127.0.0.1:{port}"
    return {"pid": proc.pid, "port": port, "url": url, "log": str(log_file)}, proc


def _await_ready(name: str, svc: dict[str, Any], proc: subprocess.Popen[bytes]) -> None:
    log_file = Path(svc["log"])

    def ready() -> bool:
        if proc.poll() is not None:
            raise RuntimeError(f"{name} exited with {proc.returncode}:\n{tail(log_file)}")
        try:
            with urllib.request.urlopen(f"{svc['url']}/readyz", timeout=2) as resp:  # noqa: S310
                return bool(resp.status == 200)
        except OSError:
            return False

    wait_until(ready, timeout=90, what=f"{name} to be ready at {svc['url']}/readyz")


def down(*, quiet: bool = False) -> None:
    root = project_root()
    paths = StackPaths(root)
    state = _load(paths)
    say = _sayer(quiet)
    for name, svc in list(state.get("services", {}).items()):
        if pid_alive(svc.get("pid")):
            say(f"{name}: stopping (pid {svc['pid']})")
            terminate(svc["pid"], timeout=40)
        state["services"].pop(name)
    prom = state.pop("prometheus", None) or {}
    if pid_alive(prom.get("pid")):
        say(f"prometheus: stopping (pid {prom['pid']})")
        terminate(prom["pid"], timeout=20)
    k = state.get("kafka") or {}
    if k.get("managed") and pid_alive(k.get("pid")):
        say(f"kafka: stopping (pid {k['pid']})")
        terminate(k["pid"], timeout=60)
    p = state.get("postgres") or {}
    if p.get("managed"):
        node = PostgresNode(Path(p["data_dir"]), p["port"])
        if node.running() or node.read_pid():
            say("postgres: stopping")
            node.stop()
    state.pop("kafka", None)
    state.pop("postgres", None)
    _save(paths, state)
    if paths.env.exists():
        paths.env.unlink()
    say("stack: down")


def _reachable(host_port: str) -> bool:
    host, _, port = host_port.split(",")[0].rpartition(":")
    return port.isdigit() and port_open(host or "127.0.0.1", int(port))


def status() -> dict[str, Any]:
    """What runs now: each component's endpoint and whether it answers."""
    state = _load(StackPaths(project_root()))
    report: dict[str, Any] = {}
    if k := state.get("kafka"):
        report["kafka"] = {"endpoint": k["bootstrap"], "up": _reachable(k["bootstrap"])}
    if p := state.get("postgres"):
        report["postgres"] = {
            "endpoint": p["url"],
            "up": _reachable(p["url"].split("@")[-1].split("/")[0]),
        }
    for name, svc in state.get("services", {}).items():
        report[name] = {"endpoint": svc["url"], "up": pid_alive(svc.get("pid"))}
    if prom := state.get("prometheus"):
        report["prometheus"] = {"endpoint": prom["url"], "up": pid_alive(prom.get("pid"))}
    return report
