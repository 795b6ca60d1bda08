"""The webhooks queue's task: one attempt at one delivery, retried with exponential
backoff until it is delivered or too old.

A delivery's row (shared/webhooks.py) is the record; the message carries its id. An
attempt is claimed in the row first, so a duplicate message (a redelivery after a
worker died, beat's sweeper, a retry restored by the broker) either finds the
delivery finished, not due yet, or held by the running attempt, and does nothing:
a receiver sees each attempt once, always with the same idempotency id.

Nothing a receiver does can crash the worker: every answer and every network error
is an attempt recorded with its outcome, and the POST itself is bounded in time.
"""
from __future__ import annotations

import logging
import time
from dataclasses import replace
from datetime import datetime, timezone

import psycopg
from celery.exceptions import SoftTimeLimitExceeded

from shared import webhooks
from shared.config import load_settings
from shared.safefetch import FetchPolicy, URLNotAllowed, post_json
from workers.celery_app import DELIVER_WEBHOOK_TASK, app

log = logging.getLogger(__name__)

_settings = load_settings()
# How long a claimed attempt keeps other messages for the same delivery away: the
# POST's own limit, and a margin for recording it.
LEASE_MARGIN = 15
# Longest error text kept per attempt.
MAX_ERROR_LENGTH = 500


def webhook_policy(settings) -> FetchPolicy:
    """The same address rules as asset URLs (MOCKFARM_FETCH_*), with the webhook's own
    time limit: a receiver must answer quickly (queue your work, then answer 2xx)."""
    policy = FetchPolicy.from_env()
    limit = settings.webhook_timeout
    return replace(policy, total_timeout=limit, connect_timeout=min(policy.connect_timeout, limit),
                   read_timeout=min(policy.read_timeout, limit))


def headers_for(delivery: webhooks.Delivery, body: bytes, timestamp: int) -> dict[str, str]:
    return {
        "Content-Type": "application/json",
        webhooks.ID_HEADER: delivery.id,
        webhooks.EVENT_HEADER: delivery.event,
        webhooks.TIMESTAMP_HEADER: str(timestamp),
        webhooks.SIGNATURE_HEADER: webhooks.signature(delivery.secret, timestamp, body),
    }


@app.task(name=DELIVER_WEBHOOK_TASK, bind=True, max_retries=None,
          # The database briefly unreachable: try the message again later.
          autoretry_for=(psycopg.OperationalError,), retry_backoff=2, retry_backoff_max=60,
          soft_time_limit=_settings.webhook_timeout + 10, time_limit=_settings.webhook_timeout + 20)
def deliver(self, delivery_id: str) -> str:
    """POST the delivery once: 'delivered', 'failed' (for good) or 'skipped' (nothing to
    do); otherwise the next attempt is scheduled (celery's Retry is raised)."""
    settings = load_settings()
    delivery = webhooks.claim_delivery(delivery_id, lease_seconds=settings.webhook_timeout + LEASE_MARGIN)
    if delivery is None:
        return "skipped"
    started_at = datetime.now(timezone.utc)
    started = time.monotonic()
    status_code: int | None = None
    final_error: str | None = None  # set when retrying cannot help
    if not delivery.endpoint_usable:
        final_error = "the endpoint was deleted or disabled"
        error = final_error
    else:
        body = delivery.body()
        try:
            answer = post_json(delivery.url, body, headers_for(delivery, body, int(time.time())),
                               webhook_policy(settings))
            status_code = answer.status
            error = None if 200 <= status_code < 300 else f"the receiver answered HTTP {status_code}"
        except URLNotAllowed as exc:
            final_error = error = f"the URL is refused: {exc.reason}"
        except SoftTimeLimitExceeded:
            error = f"no answer within {settings.webhook_timeout:g} s"
        except Exception as exc:  # noqa: BLE001 - network failures (DownloadFailed) and anything else: retry
            error = str(exc) or type(exc).__name__
    duration_ms = round((time.monotonic() - started) * 1000)
    error = error[:MAX_ERROR_LENGTH] if error else None

    if error is None:
        webhooks.finish_attempt(delivery, started_at, duration_ms, status_code, None, webhooks.DELIVERED)
        log.info("webhook %s (%s) delivered on attempt %d in %d ms", delivery.id, delivery.event,
                 delivery.attempts, duration_ms)
        return "delivered"
    retry_in = webhooks.backoff(delivery.attempts, settings.webhook_backoff_base, settings.webhook_backoff_max)
    too_old = (datetime.now(timezone.utc).timestamp() + retry_in
               > webhooks.give_up_at(delivery, settings.webhook_max_age).timestamp())
    if final_error is None and too_old:
        final_error = (f"{error}; gave up after {delivery.attempts} attempt(s): no 2xx answer within "
                       f"{settings.webhook_max_age} s of the event")[:MAX_ERROR_LENGTH]
    if final_error is not None:
        webhooks.finish_attempt(delivery, started_at, duration_ms, status_code, final_error, webhooks.FAILED)
        log.warning("webhook %s (%s) failed for good: %s", delivery.id, delivery.event, final_error)
        return "failed"
    webhooks.finish_attempt(delivery, started_at, duration_ms, status_code, error, webhooks.PENDING,
                            retry_in=retry_in)
    log.info("webhook %s (%s) attempt %d failed (%s); next in %g s", delivery.id, delivery.event,
             delivery.attempts, error, retry_in)
    # The row says when; this message is the trigger (beat's sweeper stands in if it is lost).
    raise self.retry(countdown=retry_in)
