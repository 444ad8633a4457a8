"""Versioned SQL migrations per service schema.

Files are ``NNNN_name.sql`` in one or more folders, each folder a namespace (``common`` for
the shared plumbing, then the service's own). ``migrate`` applies what is missing in one
transaction under an advisory lock on the schema, so several replicas (or init containers)
running it at once apply each file exactly once. An applied file whose text changed is an
error: write a new migration instead.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

import asyncpg

COMMON_MIGRATIONS = Path(__file__).parent / "migrations"
_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")


@dataclass(frozen=True)
class Migration:
    namespace: str
    version: int
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()


def load(namespace: str, folder: Path) -> list[Migration]:
    found = []
    for path in sorted(folder.glob("*.sql")):
        match = _NAME.match(path.name)
        if not match:
            raise ValueError(f"migration file {path} is not named NNNN_name.sql")
        found.append(Migration(namespace, int(match.group(1)), match.group(2), path.read_text()))
    versions = [m.version for m in found]
    if len(set(versions)) != len(versions):
        raise ValueError(f"duplicate migration versions in {folder}")
    return found


async def migrate(dsn: str, schema: str, sources: list[tuple[str, Path]]) -> list[str]:
    """Apply missing migrations to ``schema``; return the ones applied now."""
    if not re.fullmatch(r"[a-z_][a-z0-9_]*", schema):
        raise ValueError(f"schema name {schema!r} must be a plain lower-case identifier")
    migrations = [m for namespace, folder in sources for m in load(namespace, folder)]
    conn = await asyncpg.connect(dsn)
    applied_now: list[str] = []
    try:
        async with conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock(hashtext($1))", f"migrate:{schema}")
            await conn.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
            await conn.execute(f"SET LOCAL search_path TO {schema}")
            await conn.execute(
                """CREATE TABLE IF NOT EXISTS schema_migrations (
                       namespace text NOT NULL, version integer NOT NULL, name text NOT NULL,
                       checksum text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now(),
                       PRIMARY KEY (namespace, version))"""
            )
            rows = await conn.fetch("SELECT namespace, version, checksum FROM schema_migrations")
            done = {(r["namespace"], r["version"]): r["checksum"] for r in rows}
            for m in migrations:
                previous = done.get((m.namespace, m.version))
                if previous is not None:
                    if previous != m.checksum:
                        raise RuntimeError(
                            f"migration {m.namespace}/{m.version:04d}_{m.name} changed after it"
                            " was applied; add a new migration instead"
                        )
                    continue
                await conn.execute(m.sql)
                await conn.execute(
                    "INSERT INTO schema_migrations (namespace, version, name, checksum)"
                    " VALUES ($1, $2, $3, $4)",
                    m.namespace,
                    m.version,
                    m.name,
                    m.checksum,
                )
                applied_now.append(f"{m.namespace}/{m.version:04d}_{m.name}")
    finally:
        await conn.close()
    return applied_now
