"""Bulk tasks in PostgreSQL: a parent task and its items.

An item is an ordinary task row (kind `render.mockup`, or any kind of
workers.celery_app.TASKS_BY_KIND) naming its parent in `parent_key`, so that it is
claimed, retried, timed out and recorded by exactly the code that runs a single
task. The parent counts its finished items (`items_done`, `items_failed` out of
`items_total`); shared.tasks adds to the count in the transaction that finishes an
item, once per item whatever the number of deliveries, and queues the parent's
finishing step when the count is complete. workers/bulk.py sends the items and
finishes the parent.

Item keys are derived from the parent's key and the item's position, so recording
the items again (a parent step delivered twice) finds the rows already there.
"""
from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from shared import tasks
from shared.db import get_pool

# The kinds of bulk tasks (parents): shown with progress and items by GET
# /api/v1/tasks even before their first step recorded the items, and failed by beat's
# sweeper if that step never fans them out. A new kind of bulk task adds its kind here.
BULK_RENDER_KIND = "bulk.render"  # POST /api/v1/renders/bulk
PRINTFUL_MOCKUPS_KIND = "bulk.printful_mockups"  # POST /mockup-generator/create-task
PARENT_KINDS = (BULK_RENDER_KIND, PRINTFUL_MOCKUPS_KIND)

# Item keys: uuid5(this, "<parent key>/<index>").
_ITEM_KEY_NAMESPACE = uuid.UUID("0b5c3f8e-5a8e-4c53-9d0e-6a1f6f0b9a51")


@dataclass(frozen=True)
class BulkItem:
    """One render of a bulk task: `params` exactly as a single task of `kind` takes
    them (what api/renders.py records for POST /api/v1/renders, for render.mockup).
    An item known to be impossible when the bulk is made (its mockup failed to
    ingest, say) gives `error` instead: it is recorded failed at once, never queued."""

    params: dict[str, Any]
    kind: str = "render.mockup"
    error: str | None = None


@dataclass(frozen=True)
class ItemRecords:
    created: list[tasks.TaskRecord] = field(default_factory=list)
    # The items that still need a message (pending: not finished, not pre-failed).
    to_send: list[tasks.TaskRecord] = field(default_factory=list)
    all_done: bool = False


def item_key(parent_key: str, index: int) -> str:
    return str(uuid.uuid5(_ITEM_KEY_NAMESPACE, f"{parent_key}/{index}"))


def record_items(parent_key: str, items: list[BulkItem | dict[str, Any]]) -> ItemRecords:
    """Write the parent's items (once: a second call finds them) and its total, in one
    transaction; answer the items still to be run, and whether every item has already
    finished (all failed at once, or a repeated call after they ran)."""
    items = [item if isinstance(item, BulkItem) else BulkItem(params=item) for item in items]
    if not items:
        raise ValueError("a bulk task needs at least one item")
    with get_pool().connection() as conn, conn.cursor(row_factory=dict_row) as cur:
        # The parent's row first, locked: items finishing meanwhile wait to be counted.
        cur.execute("SELECT account_id, status, items_total FROM tasks WHERE key = %s FOR UPDATE", (parent_key,))
        parent = cur.fetchone()
        if parent is None:
            raise ValueError(f"no task {parent_key!r}")
        if parent["status"] in tasks.FINISHED:
            # Finished meanwhile (the sweeper gave up on it): nothing more to run.
            return ItemRecords(all_done=True)
        if parent["items_total"] is not None and parent["items_total"] != len(items):
            raise ValueError(f"task {parent_key} already has {parent['items_total']} items, not {len(items)}")
        if parent["items_total"] is None:
            # The items and the total are written in this one transaction, so a
            # parent with a total has all its items already. A repeated call must
            # not touch them again: an item finishing locks its own row and then
            # the parent's, so inserting over its row while holding the parent's
            # lock would deadlock (the insert waits for the item's transaction,
            # which waits for the parent's row).
            rows = []
            for index, item in enumerate(items):
                failed = item.error is not None
                rows.append((item_key(parent_key, index), item.kind, Jsonb(item.params), parent["account_id"],
                             parent_key, index, "failed" if failed else "pending", item.error,
                             failed))
            cur.executemany(
                """INSERT INTO tasks (key, kind, params, account_id, parent_key, item_index, status, error,
                                      finished_at)
                   VALUES (%s, %s, %s, %s, %s, %s, %s, %s, CASE WHEN %s THEN now() END)
                   ON CONFLICT (key) DO NOTHING""", rows)
            # Items failed from the start are finished already: they count now.
            failed_now = sum(1 for item in items if item.error is not None)
            cur.execute(
                """UPDATE tasks SET items_total = %s, items_done = %s, items_failed = %s, updated_at = now(),
                                    status = 'processing', started_at = coalesce(started_at, now())
                    WHERE key = %s""", (len(items), failed_now, failed_now, parent_key))
        cur.execute(f"SELECT {tasks._COLUMNS} FROM tasks WHERE parent_key = %s ORDER BY item_index", (parent_key,))
        created = [tasks._record(row) for row in cur.fetchall()]
        cur.execute("SELECT items_done >= items_total AS all_done FROM tasks WHERE key = %s", (parent_key,))
        all_done = cur.fetchone()["all_done"]
    return ItemRecords(created=created, to_send=[r for r in created if not r.finished], all_done=all_done)


def items_of(parent_key: str) -> list[tasks.TaskRecord]:
    """The parent's items, in their order."""
    with get_pool().connection() as conn, conn.cursor(row_factory=dict_row) as cur:
        cur.execute(f"SELECT {tasks._COLUMNS} FROM tasks WHERE parent_key = %s ORDER BY item_index", (parent_key,))
        return [tasks._record(row) for row in cur.fetchall()]


def parents_to_finish(idle_seconds: int, limit: int = 100) -> list[str]:
    """Bulk tasks whose items have all finished but which are not finished themselves,
    counted over `idle_seconds` ago: their finishing step was lost or crashed."""
    with get_pool().connection() as conn:
        rows = conn.execute(
            """SELECT key FROM tasks
                WHERE items_total IS NOT NULL AND status IN ('pending', 'processing')
                  AND items_done >= items_total AND updated_at < now() - make_interval(secs => %s)
             ORDER BY updated_at LIMIT %s""", (idle_seconds, limit)).fetchall()
    return [row[0] for row in rows]


def overdue_items(time_limit: int, limit: int = 1000) -> list[tasks.TaskRecord]:
    """Unfinished items of bulk tasks created over `time_limit` seconds ago."""
    with get_pool().connection() as conn, conn.cursor(row_factory=dict_row) as cur:
        cur.execute(
            f"""SELECT {', '.join('i.' + c.strip() for c in tasks._COLUMNS.split(','))}
                  FROM tasks i JOIN tasks p ON p.key = i.parent_key
                 WHERE i.status IN ('pending', 'processing')
                   AND p.created_at < now() - make_interval(secs => %s)
              ORDER BY p.created_at LIMIT %s""", (time_limit, limit))
        return [tasks._record(row) for row in cur.fetchall()]


def overdue_parents(kinds: tuple[str, ...], time_limit: int, limit: int = 100) -> list[str]:
    """Bulk tasks (of these kinds) still unfinished and without items `time_limit`
    seconds after they were accepted: their first step never ran to the fan-out."""
    with get_pool().connection() as conn:
        rows = conn.execute(
            """SELECT key FROM tasks
                WHERE kind = ANY(%s) AND status IN ('pending', 'processing') AND items_total IS NULL
                  AND created_at < now() - make_interval(secs => %s)
             ORDER BY created_at LIMIT %s""", (list(kinds), time_limit, limit)).fetchall()
    return [row[0] for row in rows]


def shown_items(parent: tasks.TaskRecord, result_url_ttl: int) -> list[dict[str, Any]]:
    """The parent's items as clients see them (GET /api/v1/tasks, the task's webhook):
    each with its status, error and, while its results live, freshly signed print files."""
    from datetime import datetime, timedelta, timezone  # noqa: PLC0415

    shown = []
    for item in items_of(parent.key) if parent.items_total is not None else []:
        params = item.params or {}
        view = {"task_key": item.key, "index": item.item_index, "mockup_uuid": params.get("mockup_uuid"),
                "color": params.get("color") if isinstance(params.get("color"), str) else None,
                "status": item.status, "print_files": [], "error": item.error}
        if item.status == tasks.COMPLETED and item.results_deleted_at is None:
            remaining = (item.finished_at + timedelta(seconds=result_url_ttl)
                         - datetime.now(timezone.utc)).total_seconds()
            if remaining >= 1:
                view["print_files"] = tasks.presigned_print_files(item, int(remaining))
        shown.append(view)
    return shown


def progress_of(parent: tasks.TaskRecord) -> dict[str, int]:
    """{done, failed, total}; before the items are recorded, total is how many were asked for."""
    total = parent.items_total if parent.items_total is not None else len((parent.params or {}).get("items") or [])
    return {"done": parent.items_done, "failed": parent.items_failed, "total": total}
