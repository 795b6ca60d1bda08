-- The format of a mockup's stored render plan (compositor.plan.PLAN_VERSION when it
-- was compiled), so that `mockfarm templates recompile` finds the templates an
-- earlier release compiled without reading S3. NULL: compiled before this column
-- existed, which is read as out of date.
ALTER TABLE mockups ADD COLUMN IF NOT EXISTS plan_version integer;
