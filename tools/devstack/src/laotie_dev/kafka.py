"""A real Apache Kafka broker for local runs and tests: KRaft, one combined node, on loopback.

The broker comes from the official ``kafka_2.13`` jars on Maven Central (pinned in
``deploy/local/kafka/pom.xml``), fetched once into ``.laotie/kafka/<version>/libs``.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from laotie_dev.procs import pid_alive, port_open, tail, terminate, wait_until

POM_RELATIVE = Path("deploy/local/kafka/pom.xml")
LOG4J_RELATIVE = Path("deploy/local/kafka/log4j2.yaml")
LOG4J_TOOLS_RELATIVE = Path("deploy/local/kafka/log4j2-tools.yaml")


def kafka_version(root: Path) -> str:
    text = (root / POM_RELATIVE).read_text()
    match = re.search(r"<kafka.version>([^<]+)</kafka.version>", text)
    if not match:
        raise RuntimeError(f"{POM_RELATIVE} declares no <kafka.version>")
    return match.group(1)


def ensure_jars(root: Path, cache: Path) -> Path:
    """Return the folder of the broker's jars, fetching them with Maven on first use."""
    version = kafka_version(root)
    libs = cache / "kafka" / version / "libs"
    marker = libs / ".complete"
    if marker.exists():
        return libs
    if shutil.which("mvn") is None:
        raise RuntimeError("Maven (mvn) is needed once to fetch the Kafka jars from Maven Central")
    libs.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix="libs-", dir=libs.parent))
    print(f"fetching Apache Kafka {version} jars from Maven Central ...", file=sys.stderr)
    subprocess.run(
        [
            "mvn",
            "-B",
            "-q",
            "-f",
            str(root / POM_RELATIVE),
            "dependency:copy-dependencies",
            "-DincludeScope=runtime",
            f"-DoutputDirectory={staging}",
        ],
        check=True,
    )
    (staging / ".complete").write_text(version)
    if libs.exists():
        shutil.rmtree(libs)
    staging.rename(libs)
    return libs


@dataclass
class KafkaNode:
    """One KRaft node (broker + controller) listening on 127.0.0.1."""

    root: Path
    libs: Path
    data_dir: Path
    port: int
    controller_port: int
    heap: str = "512m"
    pid: int | None = None

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def log_file(self) -> Path:
        return self.data_dir / "broker.log"

    @property
    def config_file(self) -> Path:
        return self.data_dir / "server.properties"

    def _classpath(self) -> str:
        return f"{self.libs}/*"

    def write_config(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        props = {
            "process.roles": "broker,controller",
            "node.id": "1",
            "controller.quorum.bootstrap.servers": f"127.0.0.1:{self.controller_port}",
            "listeners": (
                f"PLAINTEXT://127.0.0.1:{self.port},CONTROLLER://127.0.0.1:{self.controller_port}"
            ),
            "advertised.listeners": (
                f"PLAINTEXT://127.0.0.1:{self.port},CONTROLLER://127.0.0.1:{self.controller_port}"
            ),
            "controller.listener.names": "CONTROLLER",
            "inter.broker.listener.name": "PLAINTEXT",
            "listener.security.protocol.map": "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
            "log.dirs": str(self.data_dir / "logs"),
            "auto.create.topics.enable": "false",
            "num.partitions": "1",
            "default.replication.factor": "1",
            "min.insync.replicas": "1",
            "offsets.topic.replication.factor": "1",
            "offsets.topic.num.partitions": "4",
            "transaction.state.log.replication.factor": "1",
            "transaction.state.log.min.isr": "1",
            "transaction.state.log.num.partitions": "1",
            "share.coordinator.state.topic.replication.factor": "1",
            "share.coordinator.state.topic.min.isr": "1",
            "share.coordinator.state.topic.num.partitions": "1",
            "group.initial.rebalance.delay.ms": "0",
            "num.network.threads": "2",
            "num.io.threads": "2",
            "num.recovery.threads.per.data.dir": "1",
            "log.retention.check.interval.ms": "60000",
        }
        self.config_file.write_text("".join(f"{k}={v}\n" for k, v in props.items()))

    def format_storage(self) -> None:
        if (self.data_dir / "logs" / "meta.properties").exists():
            return
        cluster_id = subprocess.run(
            ["java", "-cp", self._classpath(), "kafka.tools.StorageTool", "random-uuid"],
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()
        subprocess.run(
            [
                "java",
                "-cp",
                self._classpath(),
                "kafka.tools.StorageTool",
                "format",
                "--standalone",
                "-t",
                cluster_id,
                "-c",
                str(self.config_file),
                "--ignore-formatted",
            ],
            check=True,
            capture_output=True,
            text=True,
        )

    def start(self, *, timeout: float = 90.0) -> None:
        """Start the broker detached (its own session) and wait until it accepts connections."""
        self.write_config()
        self.format_storage()
        log4j = self.root / LOG4J_RELATIVE
        env = {**os.environ, "LOG_DIR": str(self.data_dir)}
        with open(self.log_file, "ab") as log:
            proc = subprocess.Popen(
                [
                    "java",
                    f"-Xms{self.heap}",
                    f"-Xmx{self.heap}",
                    "-XX:+UseG1GC",
                    "-XX:TieredStopAtLevel=1",
                    "-Djava.awt.headless=true",
                    f"-Dlog4j2.configurationFile={log4j}",
                    "-cp",
                    self._classpath(),
                    "kafka.Kafka",
                    str(self.config_file),
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
                env=env,
            )
        self.pid = proc.pid
        try:
            wait_until(
                lambda: self._started(proc),
                timeout=timeout,
                what=f"Kafka on {self.bootstrap} (log: {self.log_file})",
            )
        except TimeoutError:
            self.stop()
            raise RuntimeError(
                f"Kafka did not start; last lines of {self.log_file}:\n{tail(self.log_file)}"
            ) from None

    def _started(self, proc: subprocess.Popen[bytes]) -> bool:
        if proc.poll() is not None:
            raise RuntimeError(
                f"Kafka exited with {proc.returncode}; last lines of {self.log_file}:\n"
                f"{tail(self.log_file)}"
            )
        return port_open("127.0.0.1", self.port) and "Kafka Server started" in (
            self.log_file.read_text(errors="replace")
        )

    def running(self) -> bool:
        return pid_alive(self.pid) and port_open("127.0.0.1", self.port)

    def stop(self) -> None:
        if self.pid:
            terminate(self.pid, timeout=30)
            self.pid = None

    def tool(self, main_class: str, *args: str) -> subprocess.CompletedProcess[str]:
        """Run one of Kafka's own command-line tools from the same jars."""
        return subprocess.run(
            [
                "java",
                "-XX:TieredStopAtLevel=1",
                "-Xmx256m",
                f"-Dlog4j2.configurationFile={self.root / LOG4J_TOOLS_RELATIVE}",
                "-cp",
                self._classpath(),
                main_class,
                *args,
            ],
            check=True,
            capture_output=True,
            text=True,
        )
