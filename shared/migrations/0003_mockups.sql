-- Templates ("mockups"): an uploaded PSD, ingested once into what renders need.
-- The ingest itself is a row of `tasks` (kind 'ingest.psd'); renders of a mockup
-- are tasks too ('render.mockup', 'render.print_files'), naming it in their params.
CREATE TABLE mockups (
    uuid          uuid PRIMARY KEY,
    account_id    bigint NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    name          text NOT NULL,
    status        text NOT NULL DEFAULT 'processing'
                  CHECK (status IN ('processing', 'ready', 'failed')),
    -- Why the ingest failed (status 'failed').
    error         text,
    -- The ingest task; while it runs, its state is the mockup's.
    task_key      text REFERENCES tasks (key) ON DELETE SET NULL,
    width         integer,
    height        integer,
    -- [{uuid, name, layer_name, size, position, quad, blend_mode, dpi, print_area_presets}]
    smart_objects jsonb NOT NULL DEFAULT '[]'::jsonb,
    -- {"720": {"key": S3 key, "width": ..., "height": ...}, "480": ..., "240": ...}
    -- (never enlarged: a small template's thumbnails are its own size)
    thumbnails    jsonb NOT NULL DEFAULT '{}'::jsonb,
    -- S3 keys: the compiled render plan, and the PSD as uploaded (or fetched).
    plan_key      text,
    psd_key       text,
    fidelity      jsonb,
    unsupported   jsonb NOT NULL DEFAULT '[]'::jsonb,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX mockups_account_created_at ON mockups (account_id, created_at);
