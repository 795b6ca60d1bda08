-- Webhooks: where an account wants to hear about its tasks, and every delivery made.

-- An account's webhook endpoint. The secret signs every delivery (HMAC-SHA256); it
-- is shown once, when the endpoint is made, and kept in clear here because signing
-- needs it (it is not encrypted at rest: protect the database like the S3 keys).
CREATE TABLE webhook_endpoints (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    account_id  bigint NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    url         text NOT NULL,
    secret      text NOT NULL,
    -- The event types sent to it, e.g. {task.completed,task.failed}.
    events      text[] NOT NULL CHECK (cardinality(events) > 0),
    enabled     boolean NOT NULL DEFAULT true,
    created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX webhook_endpoints_account_id ON webhook_endpoints (account_id, created_at);

-- The secret that signs deliveries to a per-request `webhook_url` (one per account,
-- made on first need; GET /api/v1/webhooks/signing-secret shows it).
CREATE TABLE webhook_account_secrets (
    account_id  bigint PRIMARY KEY REFERENCES accounts (id) ON DELETE CASCADE,
    secret      text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);

-- One event for one URL. The id is the idempotency id receivers see in the
-- Mockfarm-Webhook-Id header: the same on every attempt.
CREATE TABLE webhook_deliveries (
    id               uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    account_id       bigint NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    -- NULL for a per-request webhook_url or a test sent to a given URL; a deleted
    -- endpoint leaves its deliveries (history) and stops their retries.
    endpoint_id      uuid REFERENCES webhook_endpoints (id) ON DELETE SET NULL,
    source           text NOT NULL CHECK (source IN ('endpoint', 'request', 'test')),
    url              text NOT NULL,
    -- Copied when the delivery is made, so that a delivery signs the same way on
    -- every attempt whatever happens to the endpoint afterwards.
    secret           text NOT NULL,
    event            text NOT NULL,
    -- The event's `data`, as sent.
    payload          jsonb NOT NULL,
    task_key         text,
    status           text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'delivered', 'failed')),
    attempts         integer NOT NULL DEFAULT 0,
    next_attempt_at  timestamptz NOT NULL DEFAULT now(),
    -- While an attempt runs, no other message for this delivery may start one.
    claimed_until    timestamptz,
    last_status_code integer,
    last_error       text,
    created_at       timestamptz NOT NULL DEFAULT now(),
    delivered_at     timestamptz,
    finished_at      timestamptz,
    CHECK ((status = 'pending') = (finished_at IS NULL))
);

CREATE INDEX webhook_deliveries_account_id ON webhook_deliveries (account_id, created_at DESC);
-- What beat's sweeper looks for: pending deliveries whose retry is long overdue.
CREATE INDEX webhook_deliveries_pending ON webhook_deliveries (next_attempt_at) WHERE status = 'pending';

-- Every attempt of every delivery, with what the receiver answered or why it failed.
CREATE TABLE webhook_attempts (
    id           bigserial PRIMARY KEY,
    delivery_id  uuid NOT NULL REFERENCES webhook_deliveries (id) ON DELETE CASCADE,
    attempt      integer NOT NULL,
    started_at   timestamptz NOT NULL,
    duration_ms  integer NOT NULL,
    status_code  integer,
    error        text,
    UNIQUE (delivery_id, attempt)
);
