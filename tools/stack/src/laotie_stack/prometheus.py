"""A real Prometheus (Debian's package) scraping the local services with Laotie's own rules.

``laotie up`` starts one when the ``prometheus`` binary is installed (``make deploy-tools``
installs it as root), so dashboards' queries and alerts can be tried against real metrics;
tests/integration/test_prometheus.py checks that the recording rules return data. The rules
are ``deploy/prometheus/rules.yml`` as generated; ``eval_interval`` may be shortened locally.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from laotie_stack.procs import pid_alive, port_open, tail, terminate, wait_until


def available() -> bool:
    return shutil.which("prometheus") is not None


@dataclass
class PrometheusNode:
    root: Path
    data_dir: Path
    port: int
    targets: dict[str, str]  # job (service name) -> host:port
    scrape_interval: str = "5s"
    rule_interval: str | None = None  # default: the rule groups' own intervals
    pid: int | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def write_config(self) -> Path:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        rules = yaml.safe_load((self.root / "deploy/prometheus/rules.yml").read_text())
        if self.rule_interval:
            for group in rules["groups"]:
                group["interval"] = self.rule_interval
        (self.data_dir / "rules.yml").write_text(yaml.safe_dump(rules, sort_keys=False))
        config = {
            "global": {
                "scrape_interval": self.scrape_interval,
                "evaluation_interval": self.rule_interval or "30s",
            },
            "rule_files": ["rules.yml"],
            "scrape_configs": [
                {"job_name": job, "static_configs": [{"targets": [target]}]}
                for job, target in sorted(self.targets.items())
            ],
        }
        path = self.data_dir / "prometheus.yml"
        path.write_text(yaml.safe_dump(config, sort_keys=False))
        return path

    def start(self, timeout: float = 60) -> None:
        config = self.write_config()
        log = self.data_dir / "prometheus.log"
        with open(log, "ab") as out:
            proc = subprocess.Popen(
                [
                    "prometheus",
                    f"--config.file={config}",
                    f"--storage.tsdb.path={self.data_dir / 'data'}",
                    f"--web.listen-address=127.0.0.1:{self.port}",
                    "--storage.tsdb.retention.time=2d",
                ],
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
                cwd=self.data_dir,
            )
        self.pid = proc.pid

        def ready() -> bool:
            if proc.poll() is not None:
                raise RuntimeError(f"prometheus exited {proc.returncode}:\n{tail(log)}")
            if not port_open("127.0.0.1", self.port):
                return False
            try:
                with urllib.request.urlopen(f"{self.url}/-/ready", timeout=2) as r:  # noqa: S310
                    return bool(r.status == 200)
            except OSError:
                return False

        wait_until(ready, timeout=timeout, what=f"Prometheus on {self.url}")

    def running(self) -> bool:
        return pid_alive(self.pid) and port_open("127.0.0.1", self.port)

    def stop(self) -> None:
        if self.pid:
            terminate(self.pid, timeout=20)
            self.pid = None

    def query(self, expr: str) -> list[dict[str, Any]]:
        url = f"{self.url}/api/v1/query?" + urllib.parse.urlencode({"query": expr})
        with urllib.request.urlopen(url, timeout=5) as r:  # noqa: S310
            body = json.load(r)
        if body.get("status") != "success":
            raise RuntimeError(f"query {expr!r} failed: {body}")
        result: list[dict[str, Any]] = body["data"]["result"]
        return result

    def rules(self) -> list[dict[str, Any]]:
        with urllib.request.urlopen(f"{self.url}/api/v1/rules", timeout=5) as r:  # noqa: S310
            groups: list[dict[str, Any]] = json.load(r)["data"]["groups"]
        return groups
