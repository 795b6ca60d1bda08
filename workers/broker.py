"""A worker must survive its broker (Redis) restarting; this makes it so.

A worker holds messages it has not acknowledged yet: the task it runs (`acks_late`)
and every task waiting for its countdown or ETA, e.g. a webhook's next attempt
(workers/webhooks.py). kombu keeps them in the channel's QoS and, in Redis, in its
"unacked" hash, from which any worker restores them once the visibility timeout has
passed.

When the connection breaks, the Celery consumer (celery.worker.consumer.Consumer.
on_connection_error_after_connected, Celery 5.7) first calls `Connection.collect()`,
then `Connection.close()`:

1. `collect()` closes the task channel. kombu's Redis `Channel.close` first reads
   the reply of the BRPOP in flight, which raises a connection error (Redis is gone);
   `maybe_close_channel` ignores it, and the channel is left open. `collect()` then
   detaches the transport from the connection (`transport.client = None`).
2. `close()` closes that channel again. Now it gets as far as giving the unacknowledged
   messages back (`QoS.restore_unacked`), which needs a new Redis client, whose
   parameters are read from `transport.client`: None. The AttributeError is not a
   connection error, so nothing ignores it: "Unrecoverable error", and the worker
   process exits instead of reconnecting.

A worker holding nothing at that moment, or not waiting for a message (BRPOP) then,
reconnects, which is why the failure depends on timing: a pool waiting for work while
it holds a webhook retry's countdown (or runs a task with a free process left) dies.

The fix: a channel whose transport has been detached gives nothing back (it cannot:
there is no connection left to do it with) and says so. The messages are not lost:
they are still in Redis's "unacked" hash, restored after the visibility timeout
(MOCKFARM_BROKER_VISIBILITY_TIMEOUT), as after a worker crash; Celery drops its own
copies of them on a connection loss anyway (Consumer.on_close). Anything else is left
to kombu as it is.
"""
from __future__ import annotations

import logging

from kombu.transport import redis as kombu_redis

logger = logging.getLogger(__name__)

_PATCHED = "_mockfarm_detached_restore"


def _transport_detached(qos) -> bool:
    transport = getattr(qos.channel, "connection", None)
    return transport is None or getattr(transport, "client", None) is None


def install() -> None:
    """Make kombu's Redis QoS skip restoring through a detached transport (idempotent)."""
    qos_class = kombu_redis.QoS
    if getattr(qos_class.restore_unacked, _PATCHED, False):
        return
    restore_unacked = qos_class.restore_unacked

    def restore_unacked_unless_detached(self, client=None):
        if client is None and _transport_detached(self):
            count = len(self._delivered)
            if count:
                logger.warning(
                    "%d unacknowledged message(s) not given back: the broker connection is closed; "
                    "Redis gives them back after the visibility timeout (%s s)",
                    count, getattr(self.channel, "visibility_timeout", "?"))
            # Cleared as restore_unacked does: restore_unacked_once expects it empty.
            self._delivered.clear()
            return None
        return restore_unacked(self, client)

    setattr(restore_unacked_unless_detached, _PATCHED, True)
    restore_unacked_unless_detached.__wrapped__ = restore_unacked
    restore_unacked_unless_detached.__doc__ = restore_unacked.__doc__
    qos_class.restore_unacked = restore_unacked_unless_detached
