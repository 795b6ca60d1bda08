"""Accounts and their API keys, and `mockfarm keys ...`.

A key looks like `mf_` followed by 43 random URL-safe characters (256 bits from
`secrets`). It is shown once, when made; the database keeps only:

- its SHA-256. A plain hash is enough because the key is random and long: nobody
  can guess one from its hash, so the slow, salted hashes made for passwords (which
  people choose, and which are short) would cost every request time for nothing,
  and an HMAC with a server secret would add a secret to manage and rotate without
  making a leaked table any less useless.
- its prefix (`mf_` and the next 8 characters), which is not secret: people tell
  their keys apart by it, and it finds the key's row. The stored hash is then
  compared in constant time (`hmac.compare_digest`), and a prefix that matches no
  row costs the same comparison, so the answer's timing does not depend on how
  much of a key is right. Unknown, revoked and expired keys get the same answer.
"""
from __future__ import annotations

import hashlib
import hmac
import secrets
import sys
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import click
from psycopg.rows import dict_row

from shared.db import get_pool, is_uuid

KEY_MARK = "mf_"
PREFIX_LENGTH = len(KEY_MARK) + 8
# Longest header value worth hashing: real keys are 46 characters.
MAX_PRESENTED_LENGTH = 200
# How stale `last_used_at` may get before a request writes it again: one write per
# key per minute, not one per request.
LAST_USED_RESOLUTION = timedelta(minutes=1)
# Compared against when no key has the presented prefix, so that both paths do the same work.
_NO_MATCH_HASH = hashlib.sha256(b"no key has this prefix").digest()


@dataclass(frozen=True)
class Account:
    id: int
    name: str
    created_at: datetime


@dataclass(frozen=True)
class ApiKey:
    """A key's metadata; the key itself is never stored."""

    id: str
    account_id: int
    account_name: str
    name: str
    prefix: str
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None
    last_used_at: datetime | None

    def is_usable(self, now: datetime | None = None) -> bool:
        now = now or datetime.now(timezone.utc)
        return self.revoked_at is None and (self.expires_at is None or self.expires_at > now)


_KEY_COLUMNS = """k.id::text AS id, k.account_id, a.name AS account_name, k.name, k.prefix,
                  k.created_at, k.expires_at, k.revoked_at, k.last_used_at"""


def hash_key(key: str) -> bytes:
    return hashlib.sha256(key.encode("utf-8")).digest()


def _new_key() -> str:
    return KEY_MARK + secrets.token_urlsafe(32)


def ensure_account(name: str) -> Account:
    """The account called `name`, created if missing."""
    name = name.strip()
    if not name:
        raise ValueError("an account needs a name")
    with get_pool().connection() as conn, conn.cursor(row_factory=dict_row) as cur:
        # The no-op update makes RETURNING give the row when it exists already.
        cur.execute(
            """INSERT INTO accounts (name) VALUES (%s)
               ON CONFLICT (name) DO UPDATE SET name = EXCLUDED.name
               RETURNING id, name, created_at""",
            (name,),
        )
        return Account(**cur.fetchone())


def get_account(account_id: int) -> Account | None:
    with get_pool().connection() as conn, conn.cursor(row_factory=dict_row) as cur:
        cur.execute("SELECT id, name, created_at FROM accounts WHERE id = %s", (account_id,))
        row = cur.fetchone()
        return Account(**row) if row else None


def create_key(account_id: int, name: str = "", expires_in_days: int | None = None) -> tuple[ApiKey, str]:
    """Make a key for the account: (its metadata, the key itself, to show once)."""
    if expires_in_days is not None and expires_in_days < 1:
        raise ValueError("expires_in_days must be at least 1")
    key = _new_key()
    with get_pool().connection() as conn, conn.cursor(row_factory=dict_row) as cur:
        cur.execute(
            f"""WITH k AS (
                    INSERT INTO api_keys (account_id, name, prefix, hash, expires_at)
                    VALUES (%s, %s, %s, %s, now() + make_interval(days => %s))
                    RETURNING *)
                SELECT {_KEY_COLUMNS} FROM k JOIN accounts a ON a.id = k.account_id""",
            (account_id, name, key[:PREFIX_LENGTH], hash_key(key), expires_in_days),
        )
        return ApiKey(**cur.fetchone()), key


def list_keys(account_id: int | None = None) -> list[ApiKey]:
    """Every key (of one account, when given), oldest first."""
    with get_pool().connection() as conn, conn.cursor(row_factory=dict_row) as cur:
        cur.execute(
            f"""SELECT {_KEY_COLUMNS} FROM api_keys k JOIN accounts a ON a.id = k.account_id
                 WHERE %(account_id)s::bigint IS NULL OR k.account_id = %(account_id)s
              ORDER BY a.name, k.created_at""",
            {"account_id": account_id},
        )
        return [ApiKey(**row) for row in cur.fetchall()]


def find_account_by_name(name: str) -> Account | None:
    with get_pool().connection() as conn, conn.cursor(row_factory=dict_row) as cur:
        cur.execute("SELECT id, name, created_at FROM accounts WHERE name = %s", (name,))
        row = cur.fetchone()
        return Account(**row) if row else None


def revoke_key(key_id: str, account_id: int | None = None) -> ApiKey | None:
    """Revoke a key (of that account, when given); None when there is no such key.
    Revoking a revoked key keeps its first revocation time."""
    if not is_uuid(key_id):
        return None
    with get_pool().connection() as conn, conn.cursor(row_factory=dict_row) as cur:
        cur.execute(
            f"""WITH k AS (
                    UPDATE api_keys SET revoked_at = coalesce(revoked_at, now())
                     WHERE id = %(key_id)s AND (%(account_id)s::bigint IS NULL OR account_id = %(account_id)s)
                 RETURNING *)
                SELECT {_KEY_COLUMNS} FROM k JOIN accounts a ON a.id = k.account_id""",
            {"key_id": key_id, "account_id": account_id},
        )
        row = cur.fetchone()
        return ApiKey(**row) if row else None


def authenticate(presented: str | None) -> ApiKey | None:
    """The usable key matching `presented`, or None (unknown, revoked or expired alike)."""
    if not presented or len(presented) > MAX_PRESENTED_LENGTH or not presented.startswith(KEY_MARK):
        return None
    digest = hash_key(presented)
    with get_pool().connection() as conn, conn.cursor(row_factory=dict_row) as cur:
        cur.execute(
            f"""SELECT {_KEY_COLUMNS}, k.hash FROM api_keys k JOIN accounts a ON a.id = k.account_id
                 WHERE k.prefix = %s""",
            (presented[:PREFIX_LENGTH],),
        )
        candidates = cur.fetchall()
        match = None
        for row in candidates or [{"hash": _NO_MATCH_HASH}]:
            if hmac.compare_digest(bytes(row["hash"]), digest) and "id" in row:
                match = row
        if match is None:
            return None
        del match["hash"]
        key = ApiKey(**match)
        if not key.is_usable():
            return None
        now = datetime.now(timezone.utc)
        if key.last_used_at is None or now - key.last_used_at > LAST_USED_RESOLUTION:
            cur.execute("UPDATE api_keys SET last_used_at = now() WHERE id = %s", (key.id,))
        return key


def usage(account_id: int) -> dict[str, int]:
    """What the account has used, from its tasks: completed renders and the print files
    they made. Failed renders are reported too, but are not usage."""
    with get_pool().connection() as conn:
        renders, print_files, failed = conn.execute(
            """SELECT count(*) FILTER (WHERE status = 'completed'),
                      coalesce(sum(CASE WHEN status = 'completed'
                                        -- results recorded before print_files existed hold one file
                                        THEN coalesce(jsonb_array_length(result -> 'print_files'), 1)
                                   END), 0),
                      count(*) FILTER (WHERE status = 'failed')
                 FROM tasks WHERE account_id = %s AND kind LIKE 'render.%%'""",
            (account_id,),
        ).fetchone()
    return {"renders": renders, "print_files": int(print_files), "failed_renders": failed}


# ---------------------------------------------------------------------- commands

def _when(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%d %H:%M UTC") if moment else "-"


@click.group("keys")
def keys_group() -> None:
    """API keys (stored hashed; a key is shown only when made)."""


@keys_group.command("create")
@click.option("--account", "account_name", required=True, help="Account the key belongs to (created if missing).")
@click.option("--name", default="", help="A label, to tell keys apart.")
@click.option("--expires-in", "expires_in", type=click.IntRange(min=1, max=3650), default=None,
              help="Days until the key stops working (default: never).")
def create_key_command(account_name: str, name: str, expires_in: int | None) -> None:
    """Make a key and print it, alone on stdout (so `KEY=$(mockfarm keys create ...)` works).

    It cannot be shown again; everything else goes to stderr.
    """
    account = ensure_account(account_name)
    key, plaintext = create_key(account.id, name=name, expires_in_days=expires_in)
    click.echo(plaintext)
    click.echo(f"created key {key.id} ({key.prefix}...) for account {account.name!r}, "
               f"expires: {_when(key.expires_at) if key.expires_at else 'never'}; "
               "store it now: it cannot be shown again", err=True)


@keys_group.command("list")
@click.option("--account", "account_name", default=None, help="Only this account's keys.")
def list_keys_command(account_name: str | None) -> None:
    """Show the keys' metadata (never the keys)."""
    from rich.console import Console
    from rich.table import Table

    account_id = None
    if account_name is not None:
        account = find_account_by_name(account_name)
        if account is None:
            raise click.ClickException(f"no account named {account_name!r}")
        account_id = account.id
    table = Table("id", "account", "name", "prefix", "created", "expires", "revoked", "last used")
    for key in list_keys(account_id):
        table.add_row(key.id, key.account_name, key.name or "-", key.prefix + "...", _when(key.created_at),
                      _when(key.expires_at), _when(key.revoked_at), _when(key.last_used_at))
    Console(width=200 if not sys.stdout.isatty() else None).print(table)


@keys_group.command("revoke")
@click.argument("key_id")
def revoke_key_command(key_id: str) -> None:
    """Revoke the key with this id (from `mockfarm keys list`); it stops working at once."""
    key = revoke_key(key_id)
    if key is None:
        raise click.ClickException(f"no key with id {key_id!r}")
    click.echo(f"revoked key {key.id} ({key.prefix}...) of account {key.account_name!r}")


commands = [keys_group]
