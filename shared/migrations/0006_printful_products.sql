-- Products for the Printful-compatible mockup generator (/mockup-generator/...):
-- a product groups templates (mockups) into variants (colours, sizes), placements
-- (mapped to smart objects) and print files. Clients written for Printful address
-- products and variants by integers, so the id is an integer the account chooses
-- (or the next free one), unique within the account: two accounts may both have
-- a product 71.
CREATE TABLE products (
    account_id  bigint NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    id          integer NOT NULL CHECK (id > 0),
    title       text NOT NULL,
    -- The definition as validated and resolved (mockup names to uuids, template ids
    -- assigned): variants, placements, printfiles, color_overlay, templates.
    -- See shared/products.py.
    definition  jsonb NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (account_id, id)
);
