"""GET /healthz (the process answers) and GET /readyz (everything it needs answers)."""
from __future__ import annotations

import time

import redis
from flask_smorest import Blueprint

from shared.config import load_settings
from shared.db import get_pool
from shared.storage import Storage
from workers.celery_app import QUEUES, app as celery_app

blp = Blueprint("health", __name__, description="Liveness and readiness")

_storage: Storage | None = None


def _check_redis(settings) -> None:
    client = redis.Redis.from_url(settings.redis_url, socket_timeout=2, socket_connect_timeout=2)
    try:
        client.ping()
    finally:
        client.close()


def _check_postgres(settings) -> None:
    with get_pool().connection(timeout=3) as conn:
        conn.execute("SELECT 1")


def _check_s3(settings) -> None:
    global _storage
    if _storage is None:
        _storage = Storage(settings)
    _storage.ping()


def workers_by_queue(timeout: float = 1.5, celery=None) -> dict[str, list[str]]:
    """Which workers answer, per queue they consume (asks the workers over the broker)."""
    celery = celery or celery_app
    replies = celery.control.inspect(timeout=timeout).active_queues() or {}
    by_queue: dict[str, list[str]] = {name: [] for name in QUEUES}
    for worker, queues in replies.items():
        for queue in queues:
            by_queue.setdefault(queue["name"], []).append(worker)
    return by_queue


def readiness() -> dict[str, dict]:
    settings = load_settings()
    checks: dict[str, dict] = {}
    for name, check in (("redis", _check_redis), ("postgres", _check_postgres), ("s3", _check_s3)):
        started = time.monotonic()
        try:
            check(settings)
            checks[name] = {"ok": True}
        except Exception as exc:  # noqa: BLE001 - a readiness probe reports, never raises
            checks[name] = {"ok": False, "error": f"{type(exc).__name__}: {exc}"[:300]}
        checks[name]["ms"] = round((time.monotonic() - started) * 1000)
    if checks["redis"]["ok"]:
        try:
            by_queue = workers_by_queue()
            for queue in QUEUES:
                answering = sorted(by_queue.get(queue, []))
                checks[f"workers.{queue}"] = (
                    {"ok": True, "workers": answering} if answering
                    else {"ok": False, "error": f"no worker answers on queue {queue!r}"})
        except Exception as exc:  # noqa: BLE001
            for queue in QUEUES:
                checks[f"workers.{queue}"] = {"ok": False, "error": f"{type(exc).__name__}: {exc}"[:300]}
    else:
        for queue in QUEUES:
            checks[f"workers.{queue}"] = {"ok": False, "error": "the broker (redis) is down"}
    return checks


@blp.route("/healthz")
@blp.doc(security=[])
def healthz():
    return {"success": True, "status": "alive"}


@blp.route("/readyz")
@blp.doc(security=[])
def readyz():
    checks = readiness()
    down = [name for name, check in checks.items() if not check["ok"]]
    if down:
        return {"success": False, "detail": "not ready: " + ", ".join(down) + " down", "checks": checks}, 503
    return {"success": True, "status": "ready", "checks": checks}
