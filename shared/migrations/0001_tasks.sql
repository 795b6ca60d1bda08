-- Every unit of work the farm accepts. PostgreSQL, not the Celery result backend,
-- is the system of record: the API answers task status from this table only.
CREATE TABLE tasks (
    key          text PRIMARY KEY,
    kind         text NOT NULL,
    status       text NOT NULL DEFAULT 'pending'
                 CHECK (status IN ('pending', 'processing', 'completed', 'failed')),
    -- What was asked for, exactly as the API validated it; the worker reads it from here.
    params       jsonb NOT NULL DEFAULT '{}'::jsonb,
    -- What was made (object key, content type, size...); the API presigns it on read.
    result       jsonb,
    error        text,
    -- How many times a worker has picked the task up; redeliveries after a crash count.
    attempts     integer NOT NULL DEFAULT 0,
    created_at   timestamptz NOT NULL DEFAULT now(),
    started_at   timestamptz,
    finished_at  timestamptz,
    updated_at   timestamptz NOT NULL DEFAULT now(),
    CHECK ((status IN ('completed', 'failed')) = (finished_at IS NOT NULL))
);

CREATE INDEX tasks_status_created_at ON tasks (status, created_at);
