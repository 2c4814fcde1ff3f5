-- Catalog from Git: the commit each runbook version was first read at. Every version
-- the catalog serves is kept here (not only the pinned ones), so the versions and diff
-- routes outlive a restart; created_at is when the gateway first saw the version.
ALTER TABLE runbook_snapshots ADD COLUMN git_commit text;
