-- Catalogs and collections (groupings of an account's mockups), and bulk tasks: a
-- parent task whose items are ordinary render tasks.

-- A catalog is a top-level grouping; every account has one default catalog (made on
-- first need), and may make others.
CREATE TABLE catalogs (
    uuid        uuid PRIMARY KEY,
    account_id  bigint NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    name        text NOT NULL CHECK (name <> ''),
    is_default  boolean NOT NULL DEFAULT false,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX catalogs_account_id ON catalogs (account_id, created_at);
-- At most one default catalog per account (two requests making it at once: one wins).
CREATE UNIQUE INDEX catalogs_one_default ON catalogs (account_id) WHERE is_default;

-- A collection belongs to one catalog of the same account and holds mockups; a
-- mockup may be in several collections. Deleting a collection leaves its mockups.
CREATE TABLE collections (
    uuid          uuid PRIMARY KEY,
    account_id    bigint NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    catalog_uuid  uuid NOT NULL REFERENCES catalogs (uuid) ON DELETE CASCADE,
    name          text NOT NULL CHECK (name <> ''),
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX collections_account_id ON collections (account_id, created_at);
CREATE INDEX collections_catalog_uuid ON collections (catalog_uuid);

CREATE TABLE collection_mockups (
    collection_uuid  uuid NOT NULL REFERENCES collections (uuid) ON DELETE CASCADE,
    mockup_uuid      uuid NOT NULL REFERENCES mockups (uuid) ON DELETE CASCADE,
    -- clock_timestamp: mockups added in one call keep the order they were given in.
    added_at         timestamptz NOT NULL DEFAULT clock_timestamp(),
    PRIMARY KEY (collection_uuid, mockup_uuid)
);

CREATE INDEX collection_mockups_mockup_uuid ON collection_mockups (mockup_uuid);

-- Bulk tasks. An item of a bulk task is a task of its own (kind render.mockup...),
-- naming its parent, so that it is claimed, timed out, retried and recorded exactly
-- like a single render. The parent counts its finished items: the transaction that
-- finishes an item (a conditional UPDATE that succeeds once per item, however many
-- times its message is delivered) adds one to `items_done` of the parent, and the
-- item that brings it to `items_total` queues the parent's finishing step.
ALTER TABLE tasks ADD COLUMN parent_key text REFERENCES tasks (key) ON DELETE CASCADE;
-- The item's position in its parent (the order of the request).
ALTER TABLE tasks ADD COLUMN item_index integer;
-- On a parent: how many items it has, how many have finished, and how many of those failed.
ALTER TABLE tasks ADD COLUMN items_total integer;
ALTER TABLE tasks ADD COLUMN items_done integer NOT NULL DEFAULT 0;
ALTER TABLE tasks ADD COLUMN items_failed integer NOT NULL DEFAULT 0;
ALTER TABLE tasks ADD CONSTRAINT tasks_item_has_index CHECK ((parent_key IS NULL) = (item_index IS NULL));

CREATE UNIQUE INDEX tasks_parent_item ON tasks (parent_key, item_index) WHERE parent_key IS NOT NULL;
