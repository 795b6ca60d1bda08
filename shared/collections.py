"""Catalogs and collections of an account's mockups, in PostgreSQL (migration 0005).

A catalog is a top-level grouping; every account has a default one, made the first
time it is needed. A collection belongs to one catalog and holds mockups; a mockup
may be in several collections, and is in the catalogs of the collections that hold
it. Everything is scoped to the account: another account's catalog, collection or
mockup is answered exactly like a missing one.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Iterable

from psycopg.rows import dict_row

from shared.db import get_pool, is_uuid
from shared.mockups import new_mockup_uuid

DEFAULT_CATALOG_NAME = "Default"


class NotFound(LookupError):
    """A uuid that names nothing of the account; `what` says which kind, `uuid` which."""

    def __init__(self, what: str, uuid: str):
        super().__init__(f"no {what} with uuid {uuid!r}")
        self.what, self.uuid = what, uuid


@dataclass(frozen=True)
class Catalog:
    uuid: str
    account_id: int
    name: str
    is_default: bool
    collection_count: int
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class Collection:
    uuid: str
    account_id: int
    catalog_uuid: str
    name: str
    mockup_count: int
    created_at: datetime
    updated_at: datetime


_CATALOG_SELECT = """SELECT k.uuid::text AS uuid, k.account_id, k.name, k.is_default, k.created_at, k.updated_at,
                            (SELECT count(*) FROM collections c WHERE c.catalog_uuid = k.uuid) AS collection_count
                       FROM catalogs k"""
_COLLECTION_SELECT = """SELECT c.uuid::text AS uuid, c.account_id, c.catalog_uuid::text AS catalog_uuid, c.name,
                               c.created_at, c.updated_at,
                               (SELECT count(*) FROM collection_mockups cm
                                 WHERE cm.collection_uuid = c.uuid) AS mockup_count
                          FROM collections c"""


def _ensure_default(cur, account_id: int) -> str:
    cur.execute("INSERT INTO catalogs (uuid, account_id, name, is_default) VALUES (%s, %s, %s, true) "
                "ON CONFLICT (account_id) WHERE is_default DO NOTHING",
                (new_mockup_uuid(), account_id, DEFAULT_CATALOG_NAME))
    cur.execute("SELECT uuid::text AS uuid FROM catalogs WHERE account_id = %s AND is_default", (account_id,))
    return cur.fetchone()["uuid"]


def list_catalogs(account_id: int) -> list[Catalog]:
    """The account's catalogs, the default one first (made now if it was missing)."""
    with get_pool().connection() as conn, conn.cursor(row_factory=dict_row) as cur:
        _ensure_default(cur, account_id)
        cur.execute(f"{_CATALOG_SELECT} WHERE k.account_id = %s ORDER BY k.is_default DESC, k.created_at, k.uuid",
                    (account_id,))
        return [Catalog(**row) for row in cur.fetchall()]


def create_catalog(account_id: int, name: str) -> Catalog:
    with get_pool().connection() as conn, conn.cursor(row_factory=dict_row) as cur:
        _ensure_default(cur, account_id)
        catalog_uuid = new_mockup_uuid()
        cur.execute("INSERT INTO catalogs (uuid, account_id, name) VALUES (%s, %s, %s)",
                    (catalog_uuid, account_id, name))
        cur.execute(f"{_CATALOG_SELECT} WHERE k.uuid = %s", (catalog_uuid,))
        return Catalog(**cur.fetchone())


def get_catalog(catalog_uuid: str, account_id: int) -> Catalog | None:
    if not is_uuid(catalog_uuid):
        return None
    with get_pool().connection() as conn, conn.cursor(row_factory=dict_row) as cur:
        cur.execute(f"{_CATALOG_SELECT} WHERE k.uuid = %s AND k.account_id = %s", (catalog_uuid, account_id))
        row = cur.fetchone()
        return Catalog(**row) if row else None


def rename_catalog(catalog_uuid: str, account_id: int, name: str) -> Catalog | None:
    if not is_uuid(catalog_uuid):
        return None
    with get_pool().connection() as conn, conn.cursor(row_factory=dict_row) as cur:
        cur.execute("UPDATE catalogs SET name = %s, updated_at = now() WHERE uuid = %s AND account_id = %s",
                    (name, catalog_uuid, account_id))
        if cur.rowcount == 0:
            return None
        cur.execute(f"{_CATALOG_SELECT} WHERE k.uuid = %s", (catalog_uuid,))
        return Catalog(**cur.fetchone())


class DefaultCatalog(ValueError):
    """The default catalog cannot be deleted (every account has one)."""


def delete_catalog(catalog_uuid: str, account_id: int) -> Catalog | None:
    """Delete a catalog that is not the default one, and its collections (their
    mockups stay); what it was, or None when missing. DefaultCatalog for the default."""
    catalog = get_catalog(catalog_uuid, account_id)
    if catalog is None:
        return None
    if catalog.is_default:
        raise DefaultCatalog("the default catalog cannot be deleted")
    with get_pool().connection() as conn:
        conn.execute("DELETE FROM catalogs WHERE uuid = %s AND account_id = %s AND NOT is_default",
                     (catalog_uuid, account_id))
    return catalog


def _check_catalog(cur, catalog_uuid: str, account_id: int) -> None:
    if not is_uuid(catalog_uuid):
        raise NotFound("catalog", catalog_uuid)
    cur.execute("SELECT 1 FROM catalogs WHERE uuid = %s AND account_id = %s", (catalog_uuid, account_id))
    if cur.fetchone() is None:
        raise NotFound("catalog", catalog_uuid)


def _check_mockups(cur, mockup_uuids: list[str], account_id: int) -> None:
    for mockup_uuid in mockup_uuids:
        if not is_uuid(mockup_uuid):
            raise NotFound("mockup", mockup_uuid)
    cur.execute("SELECT uuid::text FROM mockups WHERE uuid = ANY(%s::uuid[]) AND account_id = %s",
                (mockup_uuids, account_id))
    found = {row["uuid"] for row in cur.fetchall()}
    for mockup_uuid in mockup_uuids:
        if mockup_uuid.lower() not in found:
            raise NotFound("mockup", mockup_uuid)


def create_collection(account_id: int, name: str, catalog_uuid: str | None = None,
                      mockup_uuids: Iterable[str] = ()) -> Collection:
    """A new collection in the catalog (default: the account's default catalog),
    holding the given mockups. NotFound names the first uuid that is not the account's."""
    mockup_uuids = list(dict.fromkeys(mockup_uuids))
    with get_pool().connection() as conn, conn.cursor(row_factory=dict_row) as cur:
        if catalog_uuid is None:
            catalog_uuid = _ensure_default(cur, account_id)
        else:
            _check_catalog(cur, catalog_uuid, account_id)
        _check_mockups(cur, mockup_uuids, account_id)
        collection_uuid = new_mockup_uuid()
        cur.execute("INSERT INTO collections (uuid, account_id, catalog_uuid, name) VALUES (%s, %s, %s, %s)",
                    (collection_uuid, account_id, catalog_uuid, name))
        cur.executemany("INSERT INTO collection_mockups (collection_uuid, mockup_uuid) VALUES (%s, %s)",
                        [(collection_uuid, mockup_uuid) for mockup_uuid in mockup_uuids])
        cur.execute(f"{_COLLECTION_SELECT} WHERE c.uuid = %s", (collection_uuid,))
        return Collection(**cur.fetchone())


def list_collections(account_id: int, catalog_uuid: str | None = None) -> list[Collection]:
    """The account's collections (of one catalog, if given), oldest first."""
    with get_pool().connection() as conn, conn.cursor(row_factory=dict_row) as cur:
        if catalog_uuid is None:
            cur.execute(f"{_COLLECTION_SELECT} WHERE c.account_id = %s ORDER BY c.created_at, c.uuid", (account_id,))
        else:
            _check_catalog(cur, catalog_uuid, account_id)
            cur.execute(f"{_COLLECTION_SELECT} WHERE c.account_id = %s AND c.catalog_uuid = %s "
                        "ORDER BY c.created_at, c.uuid", (account_id, catalog_uuid))
        return [Collection(**row) for row in cur.fetchall()]


def get_collection(collection_uuid: str, account_id: int) -> Collection | None:
    if not is_uuid(collection_uuid):
        return None
    with get_pool().connection() as conn, conn.cursor(row_factory=dict_row) as cur:
        cur.execute(f"{_COLLECTION_SELECT} WHERE c.uuid = %s AND c.account_id = %s", (collection_uuid, account_id))
        row = cur.fetchone()
        return Collection(**row) if row else None


def update_collection(collection_uuid: str, account_id: int, name: str | None = None,
                      catalog_uuid: str | None = None) -> Collection | None:
    """Rename it and/or move it to another catalog of the account; None when missing."""
    if not is_uuid(collection_uuid):
        return None
    with get_pool().connection() as conn, conn.cursor(row_factory=dict_row) as cur:
        if catalog_uuid is not None:
            _check_catalog(cur, catalog_uuid, account_id)
        cur.execute("UPDATE collections SET name = coalesce(%s, name), catalog_uuid = coalesce(%s, catalog_uuid), "
                    "updated_at = now() WHERE uuid = %s AND account_id = %s",
                    (name, catalog_uuid, collection_uuid, account_id))
        if cur.rowcount == 0:
            return None
        cur.execute(f"{_COLLECTION_SELECT} WHERE c.uuid = %s", (collection_uuid,))
        return Collection(**cur.fetchone())


def delete_collection(collection_uuid: str, account_id: int) -> Collection | None:
    """Delete the collection (its mockups stay); what it was, or None when missing."""
    collection = get_collection(collection_uuid, account_id)
    if collection is None:
        return None
    with get_pool().connection() as conn:
        conn.execute("DELETE FROM collections WHERE uuid = %s AND account_id = %s", (collection_uuid, account_id))
    return collection


def add_mockups(collection_uuid: str, account_id: int, mockup_uuids: Iterable[str]) -> Collection | None:
    """Add mockups (those already in it stay once); None when the collection is missing,
    NotFound naming the first mockup that is not the account's."""
    mockup_uuids = list(dict.fromkeys(mockup_uuids))
    if not is_uuid(collection_uuid):
        return None
    with get_pool().connection() as conn, conn.cursor(row_factory=dict_row) as cur:
        cur.execute("SELECT 1 FROM collections WHERE uuid = %s AND account_id = %s FOR UPDATE",
                    (collection_uuid, account_id))
        if cur.fetchone() is None:
            return None
        _check_mockups(cur, mockup_uuids, account_id)
        cur.executemany("INSERT INTO collection_mockups (collection_uuid, mockup_uuid) VALUES (%s, %s) "
                        "ON CONFLICT DO NOTHING", [(collection_uuid, mockup_uuid) for mockup_uuid in mockup_uuids])
        cur.execute("UPDATE collections SET updated_at = now() WHERE uuid = %s", (collection_uuid,))
        cur.execute(f"{_COLLECTION_SELECT} WHERE c.uuid = %s", (collection_uuid,))
        return Collection(**cur.fetchone())


def remove_mockup(collection_uuid: str, account_id: int, mockup_uuid: str) -> bool | None:
    """Take a mockup out of the collection (the mockup itself stays): True when it was
    in it, False when not, None when the collection is missing."""
    if not is_uuid(collection_uuid):
        return None
    with get_pool().connection() as conn, conn.cursor(row_factory=dict_row) as cur:
        cur.execute("SELECT 1 FROM collections WHERE uuid = %s AND account_id = %s", (collection_uuid, account_id))
        if cur.fetchone() is None:
            return None
        if not is_uuid(mockup_uuid):
            return False
        cur.execute("DELETE FROM collection_mockups WHERE collection_uuid = %s AND mockup_uuid = %s",
                    (collection_uuid, mockup_uuid))
        removed = cur.rowcount == 1
        if removed:
            cur.execute("UPDATE collections SET updated_at = now() WHERE uuid = %s", (collection_uuid,))
        return removed


def mockup_uuids_of(collection_uuid: str, account_id: int) -> list[str] | None:
    """The collection's mockups, in the order they were added; None when it is missing."""
    if get_collection(collection_uuid, account_id) is None:
        return None
    with get_pool().connection() as conn:
        rows = conn.execute("SELECT mockup_uuid::text FROM collection_mockups WHERE collection_uuid = %s "
                            "ORDER BY added_at, mockup_uuid", (collection_uuid,)).fetchall()
    return [row[0] for row in rows]
