"""PostgreSQL access: one connection pool per process, and versioned SQL migrations.

Migrations are plain files `shared/migrations/NNNN_name.sql`, applied in order by
`mockfarm db upgrade`; the versions already applied are kept in `schema_migrations`.
"""
from __future__ import annotations

import os
import re
import threading
import uuid
from dataclasses import dataclass
from importlib import resources

import click
import psycopg
from psycopg_pool import ConnectionPool

from shared.config import Settings, load_settings


def is_uuid(value) -> bool:
    """Whether `value` is a uuid: what a uuid column accepts. Keys from a URL are
    checked with it first, so that a malformed one answers as a missing row."""
    try:
        uuid.UUID(value)
    except (ValueError, TypeError, AttributeError):
        return False
    return True

_MIGRATION_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")
# Any constant works; it only has to be the same for every process running migrations.
_MIGRATION_LOCK_ID = 0x6D6F636B

_pool: ConnectionPool | None = None
_pool_owner_pid: int | None = None
_pool_lock = threading.Lock()


def get_pool(settings: Settings | None = None) -> ConnectionPool:
    """The process's pool, opened on first use.

    Created lazily and per pid because Celery and gunicorn fork: a pool inherited
    across fork() would share sockets between processes.
    """
    global _pool, _pool_owner_pid
    with _pool_lock:
        if _pool is None or _pool_owner_pid != os.getpid():
            settings = settings or load_settings()
            _pool = ConnectionPool(
                settings.database_url,
                min_size=1,
                max_size=settings.database_pool_size,
                kwargs={"connect_timeout": 5},
                open=True,
                name="mockfarm",
            )
            _pool_owner_pid = os.getpid()
        return _pool


def close_pool() -> None:
    global _pool, _pool_owner_pid
    with _pool_lock:
        if _pool is not None and _pool_owner_pid == os.getpid():
            _pool.close()
        _pool = None
        _pool_owner_pid = None


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str


def available_migrations() -> list[Migration]:
    found = []
    for entry in resources.files("shared").joinpath("migrations").iterdir():
        match = _MIGRATION_NAME.match(entry.name)
        if match:
            found.append(Migration(int(match.group(1)), match.group(2), entry.read_text(encoding="utf-8")))
        elif entry.name.endswith(".sql"):
            raise RuntimeError(f"migration file {entry.name!r} is not named NNNN_name.sql")
    found.sort(key=lambda m: m.version)
    versions = [m.version for m in found]
    if len(set(versions)) != len(versions):
        raise RuntimeError(f"two migrations share a version number: {versions}")
    return found


def upgrade(database_url: str) -> list[Migration]:
    """Apply every migration not yet applied, each in its own transaction; return them."""
    applied_now = []
    with psycopg.connect(database_url, autocommit=True, connect_timeout=10) as conn:
        # Serialise concurrent upgrades (two `make up` at once, or API and CLI).
        conn.execute("SELECT pg_advisory_lock(%s)", (_MIGRATION_LOCK_ID,))
        try:
            conn.execute(
                """CREATE TABLE IF NOT EXISTS schema_migrations (
                       version    integer PRIMARY KEY,
                       name       text NOT NULL,
                       applied_at timestamptz NOT NULL DEFAULT now())"""
            )
            done = {row[0] for row in conn.execute("SELECT version FROM schema_migrations")}
            for migration in available_migrations():
                if migration.version in done:
                    continue
                with conn.transaction():
                    conn.execute(migration.sql)
                    conn.execute(
                        "INSERT INTO schema_migrations (version, name) VALUES (%s, %s)",
                        (migration.version, migration.name),
                    )
                applied_now.append(migration)
        finally:
            conn.execute("SELECT pg_advisory_unlock(%s)", (_MIGRATION_LOCK_ID,))
    return applied_now


def applied_versions(database_url: str) -> list[int]:
    with psycopg.connect(database_url, connect_timeout=10) as conn:
        return [row[0] for row in conn.execute("SELECT version FROM schema_migrations ORDER BY version")]


@click.group("db")
def db_group() -> None:
    """The PostgreSQL schema."""


@db_group.command("upgrade")
def upgrade_command() -> None:
    """Apply the pending SQL migrations."""
    settings = load_settings()
    applied = upgrade(settings.database_url)
    if applied:
        for migration in applied:
            click.echo(f"applied {migration.version:04d}_{migration.name}")
    else:
        click.echo("database schema is up to date")


commands = [db_group]
