"""`mockfarm tasks ...`: operators' commands on the task records."""
from __future__ import annotations

import click

from shared import tasks
from workers.celery_app import send_task_key


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
        send_task_key(record.kind, record.key)
        click.echo(f"requeued {record.key} ({record.kind}, pending since {record.created_at:%Y-%m-%d %H:%M:%S %Z})")
    click.echo(f"{len(stale)} stale task(s) requeued")


commands = [tasks_group]
