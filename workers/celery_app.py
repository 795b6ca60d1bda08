"""The Celery application shared by every worker pool and by the API (which only sends).

Three explicit queues: `ingest` (reading uploaded templates), `render` (making
images) and `webhooks` (delivering events to users' URLs: network waits, kept apart
so that a slow receiver never delays a render and a long render never delays a
webhook). Start a pool with `celery -A workers.celery_app worker -Q render -n render@%h`,
and exactly one scheduler with `celery -A workers.celery_app beat` (it queues the
periodic cleanup of expired results and the sweep for lost webhook deliveries,
`beat_schedule` below).

Reliability settings, and why:
- acks_late + reject_on_worker_lost: a message is acknowledged only after its task
  has finished, so a worker killed mid-task (OOM, SIGKILL, power loss) gives the
  task back to the broker instead of losing it. Tasks are idempotent (see
  shared/tasks.py), so running one again is safe.
- prefetch 1: a worker holds only the task it runs; nothing waits behind a slow one.
- soft then hard time limits: the soft one lets the task record why it failed.
- no result backend: task state lives in PostgreSQL.
- a worker survives Redis restarting while it holds unacknowledged messages
  (workers/broker.py: without it, such a worker exits instead of reconnecting).
"""
from __future__ import annotations

from celery import Celery
from celery.signals import worker_init, worker_process_init
from kombu import Queue

from shared.config import Settings, load_settings
from workers import broker

# Every process that uses the app (workers, beat, Flower, the API) imports this module.
broker.install()

INGEST_QUEUE = "ingest"
RENDER_QUEUE = "render"
WEBHOOKS_QUEUE = "webhooks"
QUEUES = (INGEST_QUEUE, RENDER_QUEUE, WEBHOOKS_QUEUE)

# Task names the API sends by name, so that it never imports the imaging code.
RENDER_SOLID_TASK = "workers.render.render_solid"
RENDER_MOCKUP_TASK = "workers.render.render_mockup"
RENDER_PRINT_FILES_TASK = "workers.render.render_print_files"
INGEST_PSD_TASK = "workers.ingest.ingest_psd"
# Compile a ready mockup's stored PSD again (`mockfarm templates recompile`).
RECOMPILE_MOCKUP_TASK = "workers.ingest.recompile_mockup"
# A bulk task's first step (fetch the artwork once, then fan its items out), and its
# last (join: the ZIP of every result, and the parent's outcome); see workers/bulk.py.
BULK_RENDER_TASK = "workers.bulk.start_bulk_render"
BULK_FINISH_TASK = "workers.bulk.finish_bulk"
# The first step of a Printful-style create-task request (workers/printful.py): a
# bulk task whose items are the mockups and print files.
GENERATE_PRINTFUL_MOCKUPS_TASK = "workers.printful.generate_printful_mockups"
# Run by Celery beat every MOCKFARM_CLEANUP_INTERVAL seconds, on the ingest queue
# (light work, and the render pool stays free for renders).
DELETE_EXPIRED_RESULTS_TASK = "maintenance.delete_expired_results"
# One attempt at one webhook delivery (its id is the only argument).
DELIVER_WEBHOOK_TASK = "workers.webhooks.deliver"
# Run by beat with the cleanup: queue again the deliveries whose message was lost.
REQUEUE_LOST_WEBHOOKS_TASK = "maintenance.requeue_lost_webhook_deliveries"
# Run by beat with the cleanup: the safety net that makes every bulk task end.
SWEEP_BULK_TASKS_TASK = "maintenance.sweep_bulk_tasks"

# The task kind recorded in PostgreSQL -> (Celery task name, queue). Whatever queues
# a task (the API, `mockfarm tasks requeue-stale`) looks it up here.
TASKS_BY_KIND = {
    "render.solid": (RENDER_SOLID_TASK, RENDER_QUEUE),
    "render.mockup": (RENDER_MOCKUP_TASK, RENDER_QUEUE),
    "render.print_files": (RENDER_PRINT_FILES_TASK, RENDER_QUEUE),
    "ingest.psd": (INGEST_PSD_TASK, INGEST_QUEUE),
    "template.recompile": (RECOMPILE_MOCKUP_TASK, INGEST_QUEUE),
    "bulk.render": (BULK_RENDER_TASK, RENDER_QUEUE),
    "bulk.printful_mockups": (GENERATE_PRINTFUL_MOCKUPS_TASK, RENDER_QUEUE),
}


# The items of a bulk task go out at these priorities, single tasks at the default 0.
# Over Redis a lower number is served first (kombu keeps one list per priority step,
# 0/3/6/9, and a worker takes from them in that order): a render sent while a large
# bulk is queued waits only for the items already running, not for the whole bulk,
# and so do the items of a small bulk (a Printful create-task for one product, a
# few colours) sent after a large one. Items still run whenever nothing before
# them waits; among bulks of one size, first come first served.
SMALL_BULK_ITEM_PRIORITY = 6
BULK_ITEM_PRIORITY = 9
# Bulks of at most this many items count as small.
SMALL_BULK_ITEMS = 50


def bulk_item_priority(items_total: int | None) -> int:
    """The priority of the items of a bulk task of `items_total` items (None: unknown)."""
    if items_total is not None and items_total <= SMALL_BULK_ITEMS:
        return SMALL_BULK_ITEM_PRIORITY
    return BULK_ITEM_PRIORITY


def send_task_key(kind: str, task_key: str, celery: Celery | None = None, *, bulk_item: bool = False) -> None:
    """Queue the task recorded under `task_key` (its row must exist already);
    `bulk_item`: it is an item of a bulk task (queued behind single tasks and
    small bulks' items)."""
    task_name, queue = TASKS_BY_KIND[kind]
    priority = BULK_ITEM_PRIORITY if bulk_item else None
    (celery or app).send_task(task_name, args=[task_key], queue=queue, task_id=task_key, priority=priority)


def send_bulk_finish(parent_key: str, celery: Celery | None = None) -> None:
    """Queue the finishing step of the bulk task `parent_key` (safe to send twice)."""
    (celery or app).send_task(BULK_FINISH_TASK, args=[parent_key], queue=RENDER_QUEUE)


def send_webhook_delivery(delivery_id: str, celery: Celery | None = None) -> None:
    """Queue an attempt at the delivery recorded under `delivery_id`."""
    (celery or app).send_task(DELIVER_WEBHOOK_TASK, args=[delivery_id], queue=WEBHOOKS_QUEUE)


def make_celery(settings: Settings | None = None) -> Celery:
    settings = settings or load_settings()
    app = Celery("mockfarm", broker=settings.redis_url,
                 include=["workers.render", "workers.bulk", "workers.ingest", "workers.maintenance",
                          "workers.webhooks", "workers.printful"])
    app.conf.update(
        task_queues=[Queue(name) for name in QUEUES],
        task_default_queue=RENDER_QUEUE,
        task_create_missing_queues=False,
        task_routes={
            "workers.render.*": {"queue": RENDER_QUEUE},
            "workers.bulk.*": {"queue": RENDER_QUEUE},
            "workers.printful.*": {"queue": RENDER_QUEUE},
            "workers.ingest.*": {"queue": INGEST_QUEUE},
            "workers.webhooks.*": {"queue": WEBHOOKS_QUEUE},
            "maintenance.*": {"queue": INGEST_QUEUE},
        },
        beat_schedule={
            "delete-expired-results": {
                "task": DELETE_EXPIRED_RESULTS_TASK,
                "schedule": float(settings.cleanup_interval),
                # A run that waited longer than an interval is superseded by the next one.
                "options": {"queue": INGEST_QUEUE, "expires": float(settings.cleanup_interval)},
            },
            "requeue-lost-webhook-deliveries": {
                "task": REQUEUE_LOST_WEBHOOKS_TASK,
                "schedule": float(settings.cleanup_interval),
                "options": {"queue": INGEST_QUEUE, "expires": float(settings.cleanup_interval)},
            },
            "sweep-bulk-tasks": {
                "task": SWEEP_BULK_TASKS_TASK,
                "schedule": float(settings.cleanup_interval),
                "options": {"queue": INGEST_QUEUE, "expires": float(settings.cleanup_interval)},
            },
        },
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        task_acks_on_failure_or_timeout=True,
        worker_prefetch_multiplier=1,
        task_soft_time_limit=settings.task_soft_time_limit,
        task_time_limit=settings.task_time_limit,
        task_ignore_result=True,
        result_backend=None,
        task_serializer="json",
        accept_content=["json"],
        # Flower shows tasks from these events.
        worker_send_task_events=True,
        task_send_sent_event=True,
        broker_connection_retry_on_startup=True,
        broker_transport_options={
            "visibility_timeout": settings.broker_visibility_timeout,
            # How often a worker looks for tasks whose worker vanished (one cheap Redis
            # query): every few seconds, not kombu's default of every 10th sweep
            # of 10 s, so that redelivery follows the visibility timeout closely.
            "unacked_restore_interval": max(1, min(10, settings.broker_visibility_timeout // 4)),
            "unacked_restore_throttle": 1,
        },
        worker_hijack_root_logger=False,
        enable_utc=True,
    )
    return app


# The app of the worker processes and the API, configured from the environment.
app = make_celery()


@worker_init.connect
@worker_process_init.connect
def _keep_freed_memory(**_) -> None:
    """Workers render and compile with large arrays, allocated and freed every task:
    keeping freed memory for reuse cuts render times by about a third
    (compositor/memory.py). worker_init for the worker (and solo pools),
    worker_process_init for each prefork child."""
    from compositor.memory import keep_freed_memory  # noqa: PLC0415

    keep_freed_memory()
