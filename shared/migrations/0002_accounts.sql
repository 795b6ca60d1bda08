-- Accounts and their API keys; every task belongs to an account.

CREATE TABLE accounts (
    id          bigserial PRIMARY KEY,
    name        text NOT NULL UNIQUE CHECK (name <> ''),
    created_at  timestamptz NOT NULL DEFAULT now()
);

-- A key is shown once, when made; only its SHA-256 is kept (see shared/accounts.py
-- for why a plain hash suffices). `prefix`, the key's first characters, is not
-- secret: it finds the row and lets people tell their keys apart.
CREATE TABLE api_keys (
    id            uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    account_id    bigint NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    name          text NOT NULL DEFAULT '',
    prefix        text NOT NULL,
    hash          bytea NOT NULL UNIQUE CHECK (length(hash) = 32),
    created_at    timestamptz NOT NULL DEFAULT now(),
    expires_at    timestamptz,
    revoked_at    timestamptz,
    last_used_at  timestamptz
);

CREATE INDEX api_keys_prefix ON api_keys (prefix);
CREATE INDEX api_keys_account_id ON api_keys (account_id, created_at);

-- Tasks made before accounts existed keep a NULL account (no key can see them);
-- every new task must name its account (the trigger below, which unlike a CHECK
-- leaves the old rows' updates alone).
ALTER TABLE tasks ADD COLUMN account_id bigint REFERENCES accounts (id) ON DELETE CASCADE;
CREATE INDEX tasks_account_id_status ON tasks (account_id, status);

CREATE FUNCTION tasks_require_account() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.account_id IS NULL THEN
        RAISE EXCEPTION 'a new task must belong to an account (tasks.account_id is NULL)';
    END IF;
    RETURN NEW;
END;
$$;

CREATE TRIGGER tasks_require_account BEFORE INSERT ON tasks
    FOR EACH ROW EXECUTE FUNCTION tasks_require_account();

-- When the result objects of a finished task were deleted from S3 (they are kept
-- for MOCKFARM_RESULT_URL_TTL seconds after the task finished).
ALTER TABLE tasks ADD COLUMN results_deleted_at timestamptz;
CREATE INDEX tasks_results_to_delete ON tasks (finished_at)
    WHERE status = 'completed' AND results_deleted_at IS NULL;

-- A task reaching a final state is announced on the channel `task_finished` (the
-- payload is its key), whoever finished it: API calls holding `?wait=N` LISTEN to it.
CREATE FUNCTION tasks_notify_finished() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('task_finished', NEW.key);
    RETURN NEW;
END;
$$;

CREATE TRIGGER tasks_notify_finished AFTER UPDATE OF status ON tasks
    FOR EACH ROW
    WHEN (NEW.status IN ('completed', 'failed') AND OLD.status IS DISTINCT FROM NEW.status)
    EXECUTE FUNCTION tasks_notify_finished();
