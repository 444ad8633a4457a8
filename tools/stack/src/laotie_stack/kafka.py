"""A real Apache Kafka broker for local runs and tests: KRaft, one combined node, on loopback.

The broker comes from the official ``kafka_2.13`` jars on Maven Central (pinned in
``deploy/local/kafka/pom.xml``), fetched once into ``.laotie/kafka/<version>/libs``.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import psutil

from laotie_stack.procs import pid_alive, port_open, tail, terminate, wait_until

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


def acl_tool_args(service: str) -> list[list[str]]:
    """Arguments for Kafka's ``AclCommand`` that grant ``service`` exactly its registry ACLs
    (one invocation per resource kind, pattern and operation set)."""
    from laotie_contracts.acls import principal, service_acls

    grouped: dict[tuple[str, str, tuple[str, ...]], list[str]] = {}
    for acl in service_acls(service):
        grouped.setdefault((acl.resource, acl.pattern, acl.operations), []).append(acl.name)
    commands: list[list[str]] = []
    for (resource, pattern, operations), names in grouped.items():
        args = ["--add", "--allow-principal", principal(service)]
        args += ["--resource-pattern-type", "prefixed" if pattern == "prefix" else "literal"]
        for operation in operations:
            args += ["--operation", operation]
        for name in names:
            args += [f"--{resource}", name]
        commands.append(args)
    return commands


@dataclass
class KafkaSecurity:
    """A secured listener: SASL_SSL with SCRAM-SHA-512 users, a self-signed certificate for
    127.0.0.1, and the StandardAuthorizer (deny unless an ACL allows; ``admin`` is super).

    The CONTROLLER listener stays PLAINTEXT on loopback (KRaft cannot use SCRAM there), so its
    ``ANONYMOUS`` principal is a super user too; clusters use Strimzi's mTLS instead."""

    users: dict[str, str]
    admin: str = "admin"
    store_password: str = field(default_factory=lambda: secrets.token_urlsafe(16))

    def __post_init__(self) -> None:
        if self.admin not in self.users:
            raise ValueError(f"the admin user {self.admin!r} needs a password in users")


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
    security: KafkaSecurity | None = None

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def log_file(self) -> Path:
        return self.data_dir / "broker.log"

    @property
    def config_file(self) -> Path:
        return self.data_dir / "server.properties"

    @property
    def ca_file(self) -> Path:
        """The broker's certificate (PEM): the trust anchor clients verify it against."""
        return self.data_dir / "ca.pem"

    def _classpath(self) -> str:
        return f"{self.libs}/*"

    def _listener(self) -> str:
        return "SASL_SSL" if self.security else "PLAINTEXT"

    def _make_certificate(self, keystore: Path) -> None:
        assert self.security is not None
        if keystore.exists():
            return
        password = self.security.store_password
        subprocess.run(
            [
                "keytool", "-genkeypair", "-alias", "broker", "-keyalg", "RSA", "-keysize",
                "2048", "-validity", "30", "-dname", "CN=localhost", "-ext",
                "SAN=IP:127.0.0.1,DNS:localhost", "-storetype", "PKCS12", "-keystore",
                str(keystore), "-storepass", password, "-keypass", password,
            ],
            check=True, capture_output=True,
        )  # fmt: skip
        subprocess.run(
            [
                "keytool", "-exportcert", "-rfc", "-alias", "broker", "-keystore",
                str(keystore), "-storepass", password, "-file", str(self.ca_file),
            ],
            check=True, capture_output=True,
        )  # fmt: skip

    def _security_props(self) -> dict[str, str]:
        if self.security is None:
            return {}
        keystore = self.data_dir / "broker.p12"
        self._make_certificate(keystore)
        admin = self.security.admin
        jaas = (
            "org.apache.kafka.common.security.scram.ScramLoginModule required"
            f' username="{admin}" password="{self.security.users[admin]}";'
        )
        return {
            "sasl.enabled.mechanisms": "SCRAM-SHA-512",
            "sasl.mechanism.inter.broker.protocol": "SCRAM-SHA-512",
            "listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config": jaas,
            "ssl.keystore.location": str(keystore),
            "ssl.keystore.type": "PKCS12",
            "ssl.keystore.password": self.security.store_password,
            "ssl.key.password": self.security.store_password,
            "ssl.truststore.location": str(self.ca_file),  # the broker is its own client
            "ssl.truststore.type": "PEM",
            "authorizer.class.name": "org.apache.kafka.metadata.authorizer.StandardAuthorizer",
            "allow.everyone.if.no.acl.found": "false",
            "super.users": f"User:{admin};User:ANONYMOUS",
        }

    def client_properties(self, user: str) -> Path:
        """A Java client properties file for ``user`` (``--command-config`` of the tools)."""
        assert self.security is not None
        path = self.data_dir / f"client-{user}.properties"
        jaas = (
            "org.apache.kafka.common.security.scram.ScramLoginModule required"
            f' username="{user}" password="{self.security.users[user]}";'
        )
        path.write_text(
            "security.protocol=SASL_SSL\n"
            "sasl.mechanism=SCRAM-SHA-512\n"
            f"sasl.jaas.config={jaas}\n"
            f"ssl.truststore.location={self.ca_file}\n"
            "ssl.truststore.type=PEM\n"
        )
        return path

    def write_config(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        listener = self._listener()
        props = {
            "process.roles": "broker,controller",
            "node.id": "1",
            "controller.quorum.bootstrap.servers": f"127.0.0.1:{self.controller_port}",
            "listeners": (
                f"{listener}://127.0.0.1:{self.port},CONTROLLER://127.0.0.1:{self.controller_port}"
            ),
            "advertised.listeners": (
                f"{listener}://127.0.0.1:{self.port},CONTROLLER://127.0.0.1:{self.controller_port}"
            ),
            "controller.listener.names": "CONTROLLER",
            "inter.broker.listener.name": listener,
            "listener.security.protocol.map": f"CONTROLLER:PLAINTEXT,{listener}:{listener}",
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
            **self._security_props(),
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
                *(
                    arg
                    for name, password in (self.security.users if self.security else {}).items()
                    for arg in ("--add-scram", f"SCRAM-SHA-512=[name={name},password={password}]")
                ),
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

    def kill(self) -> None:
        """kill -9 the broker: no controlled shutdown, no flushed logs (a crash, for tests)."""
        if self.pid:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.pid, signal.SIGKILL)
            with contextlib.suppress(psutil.NoSuchProcess):
                psutil.Process(self.pid).wait(30)
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

    def grant(self, service: str) -> None:
        """Apply ``service``'s ACLs from the registry with Kafka's own AclCommand, as admin."""
        assert self.security is not None, "ACLs need a secured node"
        config = self.client_properties(self.security.admin)
        for args in acl_tool_args(service):
            self.tool(
                "org.apache.kafka.tools.AclCommand",
                "--bootstrap-server",
                self.bootstrap,
                "--command-config",
                str(config),
                *args,
            )
