"""The mockup records in PostgreSQL: templates uploaded by an account.

A mockup is `processing` from its upload until its ingest task finishes, then
`ready` (everything a render needs is in S3: `plan_key`) or `failed` (`error`).
The ingest task writes the outcome; when the task itself could not (its worker was
killed at the hard time limit, or kept dying), the mockup is read as failed with
the task's reason, so a mockup never stays `processing` after its task ended.
"""
from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from shared.db import get_pool, is_uuid

PROCESSING = "processing"
READY = "ready"
FAILED = "failed"

# The task kind of `mockfarm templates recompile`: one task per mockup, recorded under
# the mockup's account (workers/ingest.py, recompile_mockup).
RECOMPILE_KIND = "template.recompile"

# Columns a client may sort the list by.
SORTABLE = ("name", "created_at", "updated_at")


@dataclass(frozen=True)
class Mockup:
    uuid: str
    account_id: int
    name: str
    status: str
    error: str | None
    task_key: str | None
    width: int | None
    height: int | None
    smart_objects: list[dict[str, Any]]
    # {"720": {"key": S3 key, "width": ..., "height": ...}, "480": ..., "240": ...}
    thumbnails: dict[str, dict[str, Any]]
    plan_key: str | None
    psd_key: str | None
    fidelity: dict[str, Any] | None
    unsupported: list[str]
    created_at: datetime
    updated_at: datetime
    # compositor.plan.PLAN_VERSION of `plan_key` when it was compiled; None: compiled
    # before releases recorded it (or not compiled yet).
    plan_version: int | None = None

    def smart_object_index(self, so_uuid: str) -> int:
        """Where a smart object sits among the render plan's (ingest lists them in the
        plan's order): how a render names it, since names may repeat."""
        for index, so in enumerate(self.smart_objects):
            if so["uuid"] == so_uuid:
                return index
        raise KeyError(so_uuid)

    def render_item(self, so: dict) -> dict:
        """How a render task names one of the mockup's smart objects (an entry of
        `smart_objects`): its uuid, name, index in the plan, content size and dpi."""
        return {"uuid": so["uuid"], "name": so["name"], "index": self.smart_object_index(so["uuid"]),
                "content_size": [so["size"]["width"], so["size"]["height"]], "dpi": so.get("dpi")}

    def object_keys(self) -> list[str]:
        """Every S3 object the mockup owns."""
        keys = [self.plan_key, self.psd_key, *(thumb["key"] for thumb in self.thumbnails.values())]
        return [key for key in keys if key]


_SELECT = """SELECT m.uuid::text AS uuid, m.account_id, m.name, m.status, m.error, m.task_key, m.width,
                    m.height, m.smart_objects, m.thumbnails, m.plan_key, m.psd_key, m.fidelity,
                    m.unsupported, m.created_at, m.updated_at, m.plan_version,
                    t.status AS task_status, t.error AS task_error
               FROM mockups m LEFT JOIN tasks t ON t.key = m.task_key"""


def _mockup(row: dict | None) -> Mockup | None:
    if row is None:
        return None
    task_status, task_error = row.pop("task_status"), row.pop("task_error")
    if row["status"] == PROCESSING and task_status == "failed":
        # The task ended without writing the outcome here (killed): its reason is the mockup's.
        row["status"], row["error"] = FAILED, task_error
    return Mockup(**row)



def new_mockup_uuid() -> str:
    return str(uuid.uuid4())


def object_prefix(mockup_uuid: str) -> str:
    """Where a mockup's objects live in S3 (all derived from its uuid, so an ingest run
    twice overwrites its own objects)."""
    return f"mockups/{mockup_uuid}/"


def create_mockup(mockup_uuid: str, account_id: int, name: str, task_key: str, psd_key: str | None) -> Mockup:
    with get_pool().connection() as conn, conn.cursor(row_factory=dict_row) as cur:
        cur.execute("INSERT INTO mockups (uuid, account_id, name, task_key, psd_key) VALUES (%s, %s, %s, %s, %s)",
                    (mockup_uuid, account_id, name, task_key, psd_key))
        cur.execute(f"{_SELECT} WHERE m.uuid = %s", (mockup_uuid,))
        return _mockup(cur.fetchone())


def get_mockup(mockup_uuid: str, account_id: int | None = None) -> Mockup | None:
    """The mockup; with `account_id`, only if it belongs to that account (another
    account's mockup looks exactly like a missing one)."""
    if not is_uuid(mockup_uuid):
        return None
    with get_pool().connection() as conn, conn.cursor(row_factory=dict_row) as cur:
        if account_id is None:
            cur.execute(f"{_SELECT} WHERE m.uuid = %s", (mockup_uuid,))
        else:
            cur.execute(f"{_SELECT} WHERE m.uuid = %s AND m.account_id = %s", (mockup_uuid, account_id))
        return _mockup(cur.fetchone())


def get_mockups(mockup_uuids: list[str], account_id: int) -> dict[str, Mockup]:
    """The account's mockups among these uuids, by uuid (lower case); others are absent."""
    wanted = [value.lower() for value in mockup_uuids if is_uuid(value)]
    if not wanted:
        return {}
    with get_pool().connection() as conn, conn.cursor(row_factory=dict_row) as cur:
        cur.execute(f"{_SELECT} WHERE m.uuid = ANY(%s::uuid[]) AND m.account_id = %s", (wanted, account_id))
        return {mockup.uuid: mockup for mockup in map(_mockup, cur.fetchall())}


def list_mockups(account_id: int, *, limit: int, offset: int, name: str | None = None,
                 created_after: datetime | None = None, created_before: datetime | None = None,
                 sort: str = "created_at", order: str = "desc", collection_uuid: str | None = None,
                 catalog_uuid: str | None = None) -> tuple[list[Mockup], int]:
    """A page of the account's mockups and how many match in all; with
    `collection_uuid`, only that collection's, with `catalog_uuid`, only those in a
    collection of that catalog (the caller checks that both are the account's)."""
    if sort not in SORTABLE or order not in ("asc", "desc"):
        raise ValueError(f"cannot sort by {sort!r} {order!r}")
    conditions, values = ["m.account_id = %s"], [account_id]
    if name:
        # Contains, case-insensitive; the client's % and _ are literal.
        escaped = name.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        conditions.append("m.name ILIKE %s")
        values.append(f"%{escaped}%")
    if created_after is not None:
        conditions.append("m.created_at > %s")
        values.append(created_after)
    if created_before is not None:
        conditions.append("m.created_at < %s")
        values.append(created_before)
    if collection_uuid is not None:
        conditions.append("EXISTS (SELECT 1 FROM collection_mockups cm WHERE cm.mockup_uuid = m.uuid "
                          "AND cm.collection_uuid = %s)")
        values.append(collection_uuid)
    if catalog_uuid is not None:
        conditions.append("EXISTS (SELECT 1 FROM collection_mockups cm JOIN collections c "
                          "ON c.uuid = cm.collection_uuid WHERE cm.mockup_uuid = m.uuid AND c.catalog_uuid = %s)")
        values.append(catalog_uuid)
    where = " AND ".join(conditions)
    with get_pool().connection() as conn, conn.cursor(row_factory=dict_row) as cur:
        cur.execute(f"SELECT count(*) AS total FROM mockups m WHERE {where}", values)
        total = cur.fetchone()["total"]
        # `sort` and `order` were checked against fixed lists above; uuid breaks ties.
        cur.execute(f"{_SELECT} WHERE {where} ORDER BY m.{sort} {order}, m.uuid LIMIT %s OFFSET %s",
                    [*values, limit, offset])
        return [_mockup(row) for row in cur.fetchall()], total


def rename_mockup(mockup_uuid: str, account_id: int, name: str) -> Mockup | None:
    with get_pool().connection() as conn, conn.cursor(row_factory=dict_row) as cur:
        cur.execute("UPDATE mockups SET name = %s, updated_at = now() WHERE uuid = %s AND account_id = %s",
                    (name, mockup_uuid, account_id))
        if cur.rowcount == 0:
            return None
        cur.execute(f"{_SELECT} WHERE m.uuid = %s", (mockup_uuid,))
        return _mockup(cur.fetchone())


def delete_mockup(mockup_uuid: str, account_id: int) -> Mockup | None:
    """Remove the row and answer what it was (its objects are the caller's to delete)."""
    mockup = get_mockup(mockup_uuid, account_id)
    if mockup is None:
        return None
    with get_pool().connection() as conn:
        conn.execute("DELETE FROM mockups WHERE uuid = %s AND account_id = %s", (mockup_uuid, account_id))
    return mockup


def mark_ready(mockup_uuid: str, *, width: int, height: int, smart_objects: list[dict], thumbnails: dict,
               plan_key: str, psd_key: str, fidelity: dict, unsupported: list[str], plan_version: int,
               replacing_plan_key: str | None = None) -> bool:
    """Record a finished ingest; False when the mockup is gone (deleted meanwhile).

    With `replacing_plan_key` (a recompile), the row is only changed while the mockup
    is still ready with that plan: False too when it changed meanwhile, so that a
    recompile never overwrites what another one, or a delete, did in between."""
    condition, values = "uuid = %s", [mockup_uuid]
    if replacing_plan_key is not None:
        condition += " AND status = 'ready' AND plan_key = %s"
        values.append(replacing_plan_key)
    with get_pool().connection() as conn:
        cur = conn.execute(
            f"""UPDATE mockups
                   SET status = 'ready', error = NULL, width = %s, height = %s, smart_objects = %s,
                       thumbnails = %s, plan_key = %s, psd_key = %s, fidelity = %s, unsupported = %s,
                       plan_version = %s, updated_at = now()
                 WHERE {condition}""",
            (width, height, Jsonb(smart_objects), Jsonb(thumbnails), plan_key, psd_key, Jsonb(fidelity),
             Jsonb(unsupported), plan_version, *values))
        return cur.rowcount == 1


def mockups_to_recompile(plan_version: int, *, every: bool = False,
                         mockup_uuids: list[str] | None = None) -> list[Mockup]:
    """Ready mockups whose plan is older than `plan_version` (or of unknown version);
    with `every`, all ready mockups; with `mockup_uuids`, only among those. Oldest first."""
    conditions, values = ["m.status = 'ready'"], []
    if not every:
        conditions.append("(m.plan_version IS NULL OR m.plan_version < %s)")
        values.append(plan_version)
    if mockup_uuids is not None:
        conditions.append("m.uuid = ANY(%s::uuid[])")
        values.append([value.lower() for value in mockup_uuids if is_uuid(value)])
    with get_pool().connection() as conn, conn.cursor(row_factory=dict_row) as cur:
        cur.execute(f"{_SELECT} WHERE {' AND '.join(conditions)} ORDER BY m.created_at, m.uuid", values)
        return [_mockup(row) for row in cur.fetchall()]


def mark_failed(mockup_uuid: str, error: str) -> bool:
    with get_pool().connection() as conn:
        cur = conn.execute(
            "UPDATE mockups SET status = 'failed', error = %s, updated_at = now() "
            "WHERE uuid = %s AND status <> 'ready'",
            (error, mockup_uuid))
        return cur.rowcount == 1


def find_by_name(account_id: int, name: str) -> list[Mockup]:
    """The account's mockups called exactly `name` (names need not be unique)."""
    with get_pool().connection() as conn, conn.cursor(row_factory=dict_row) as cur:
        cur.execute(f"{_SELECT} WHERE m.account_id = %s AND m.name = %s ORDER BY m.created_at", (account_id, name))
        return [_mockup(row) for row in cur.fetchall()]
