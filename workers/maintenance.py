"""Housekeeping: the periodic cleanup of expired results and the sweep for lost
webhook deliveries (run by Celery beat), `mockfarm tasks ...`, operators' commands on
the task records, and `mockfarm templates recompile` after an upgrade."""
from __future__ import annotations

import logging

import click

from shared import bulk, mockups, tasks, webhooks
from shared.config import load_settings
from shared.storage import Storage
from workers.celery_app import (DELETE_EXPIRED_RESULTS_TASK, REQUEUE_LOST_WEBHOOKS_TASK, SWEEP_BULK_TASKS_TASK, app,
                                send_bulk_finish, send_task_key, send_webhook_delivery)

log = logging.getLogger(__name__)

# Tasks cleaned per database read.
CLEANUP_BATCH = 500


@app.task(name=DELETE_EXPIRED_RESULTS_TASK)
def delete_expired_results() -> int:
    """Delete the result objects of tasks that finished over MOCKFARM_RESULT_URL_TTL
    seconds ago, and record it on each task; return how many tasks were cleaned.

    Safe to run twice at once or to interrupt: an object is deleted before its task
    is marked, and deleting a missing object succeeds.
    """
    settings = load_settings()
    storage = Storage(settings)
    cleaned = 0
    while True:
        batch = tasks.tasks_with_expired_results(settings.result_url_ttl, limit=CLEANUP_BATCH)
        for record in batch:
            for print_file in tasks.print_files_of(record):
                storage.delete(print_file["object_key"])
            if (record.result or {}).get("zip"):
                storage.delete(record.result["zip"]["object_key"])
            for key in tasks.uploaded_objects_of(record):
                storage.delete(key)
            cleaned += tasks.mark_results_deleted(record.key)
        if len(batch) < CLEANUP_BATCH:
            break
    if cleaned:
        log.info("deleted the results of %d task(s) finished over %d s ago", cleaned, settings.result_url_ttl)
    return cleaned


@app.task(name=REQUEUE_LOST_WEBHOOKS_TASK)
def requeue_lost_webhook_deliveries() -> int:
    """Queue again the pending webhook deliveries whose next attempt is long overdue;
    return how many.

    A retry waits in Redis (a countdown message held by a worker) and a new delivery's
    message is sent after its row is committed: a Redis restart, or a process dying
    in between, loses the message but never the row. "Long overdue" leaves the broker
    time to restore a message whose worker died (its visibility timeout) first;
    queuing one that still exists only costs a message that finds nothing to do.
    """
    settings = load_settings()
    lost = webhooks.overdue_deliveries(settings.broker_visibility_timeout + 60)
    for delivery_id in lost:
        send_webhook_delivery(delivery_id)
    if lost:
        log.info("requeued %d webhook delivery(ies) whose message was lost", len(lost))
    return len(lost)


# A bulk task counted complete this long ago but still unfinished lost its finishing step.
BULK_FINISH_GRACE = 30


@app.task(name=SWEEP_BULK_TASKS_TASK)
def sweep_bulk_tasks() -> dict[str, int]:
    """The safety net that makes every bulk task end (workers/bulk.py); run by beat.

    - items still unfinished MOCKFARM_BULK_TIME_LIMIT seconds after their bulk task
      was accepted (their message was lost, say) are marked failed, which counts
      them on the parent like any finished item;
    - bulk tasks whose first step never fanned their items out by then are failed;
    - bulk tasks whose items have all finished but which are still unfinished
      BULK_FINISH_GRACE seconds later get their finishing step queued again
      (it is idempotent: a second one finds the parent finished).
    """
    settings = load_settings()
    limit = settings.bulk_time_limit
    overdue = bulk.overdue_items(limit)
    for item in overdue:
        tasks.fail_task(item.key, f"did not finish within {limit} s of its bulk task's start "
                                  "(MOCKFARM_BULK_TIME_LIMIT)")
    stuck = bulk.overdue_parents(bulk.PARENT_KINDS, limit)
    for key in stuck:
        tasks.fail_task(key, f"its items were not started within {limit} s (MOCKFARM_BULK_TIME_LIMIT)")
    unfinished = bulk.parents_to_finish(BULK_FINISH_GRACE)
    for key in unfinished:
        send_bulk_finish(key)
    if overdue or stuck or unfinished:
        log.info("bulk sweep: %d overdue item(s) failed, %d bulk task(s) never started failed, "
                 "%d finishing step(s) queued again", len(overdue), len(stuck), len(unfinished))
    return {"items_failed": len(overdue), "parents_failed": len(stuck), "finishes_queued": len(unfinished)}


@click.group("tasks")
def tasks_group() -> None:
    """Task records in PostgreSQL."""


@tasks_group.command("requeue-stale")
@click.option("--older-than", "older_than", type=click.IntRange(min=60), default=3600, show_default=True,
              help="Seconds a task must have been pending.")
def requeue_stale_command(older_than: int) -> None:
    """Queue again the tasks still pending after --older-than seconds.

    A task is recorded before it is queued, so if the API dies in between, or the
    broker loses its queue, the record stays pending with no message behind it.
    Queuing one that still has a message is harmless (tasks are idempotent), only
    wasteful, hence the generous default.
    """
    stale = tasks.stale_pending_tasks(older_than)
    for record in stale:
        send_task_key(record.kind, record.key, bulk_item=record.parent_key is not None)
        click.echo(f"requeued {record.key} ({record.kind}, pending since {record.created_at:%Y-%m-%d %H:%M:%S %Z})")
    click.echo(f"{len(stale)} stale task(s) requeued")


@click.group("templates")
def templates_group() -> None:
    """Stored templates (mockups)."""


@templates_group.command("recompile")
@click.option("--all", "every", is_flag=True,
              help="Recompile every ready template, not only those compiled by an earlier release.")
@click.option("--mockup", "mockup_uuids", multiple=True, metavar="UUID",
              help="Only this mockup (repeatable).")
@click.option("--dry-run", is_flag=True, help="List the templates that would be recompiled; queue nothing.")
def recompile_command(every: bool, mockup_uuids: tuple[str, ...], dry_run: bool) -> None:
    """Compile stored templates again with this release's compositor.

    By default, the ready templates whose render plan an earlier release compiled
    (an older plan version, or one not recorded); --all takes every ready template.
    Each gets a task on the ingest queue, under the template's account; a template
    whose recompile fails keeps its current plan and stays ready.
    """
    # Imported here: the compositor (numpy, OpenCV) is not loaded for every `mockfarm` command.
    from compositor.plan import PLAN_VERSION  # noqa: PLC0415

    chosen = mockups.mockups_to_recompile(PLAN_VERSION, every=every, mockup_uuids=list(mockup_uuids) or None)
    if mockup_uuids:
        found = {mockup.uuid for mockup in chosen}
        for value in mockup_uuids:
            if value.lower() not in found:
                click.echo(f"skipped {value}: no such ready mockup, or its plan is already version "
                           f"{PLAN_VERSION} (--all recompiles it anyway)")
    for mockup in chosen:
        versions = f"plan version {mockup.plan_version or 'unknown'} -> {PLAN_VERSION}"
        if dry_run:
            click.echo(f"would recompile {mockup.uuid} ({mockup.name!r}, account {mockup.account_id}, {versions})")
            continue
        record = tasks.create_task(mockups.RECOMPILE_KIND, {"mockup_uuid": mockup.uuid, "force": every},
                                   account_id=mockup.account_id)
        # If queuing fails the task stays pending, and `mockfarm tasks requeue-stale` queues it later.
        send_task_key(record.kind, record.key)
        click.echo(f"queued {record.key} for {mockup.uuid} ({mockup.name!r}, {versions})")
    click.echo(f"{len(chosen)} template(s) {'would be recompiled' if dry_run else 'queued for recompiling'}")


commands = [tasks_group, templates_group]
