-- vectorsync schema, version 10: every change of the catalog of index versions notifies the
-- channel vectorsync_indexes (delivered at commit, so a listener that reloads then sees it).
-- Processes reload their frozen snapshot of the catalog on it instead of waiting for their next
-- timed refresh; the timer stays as the safety net for a lost notification.
-- Row triggers, and updates only when a row really changed: a statement that changes nothing
-- (the fill-in of a version's embedder config, `WHERE embedder_config IS NULL`) must not make
-- every process reload, or a reload that issues it would feed itself. Postgres folds the
-- identical notifications of one transaction into one.
CREATE OR REPLACE FUNCTION vectorsync.notify_catalog_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('vectorsync_indexes', '');
  RETURN NULL;
END;
$$;

DROP TRIGGER IF EXISTS vectorsync_catalog_changed ON vectorsync.indexes;
DROP TRIGGER IF EXISTS vectorsync_catalog_rows ON vectorsync.indexes;
DROP TRIGGER IF EXISTS vectorsync_catalog_updated ON vectorsync.indexes;
DROP TRIGGER IF EXISTS vectorsync_catalog_truncated ON vectorsync.indexes;
CREATE TRIGGER vectorsync_catalog_rows
  AFTER INSERT OR DELETE ON vectorsync.indexes
  FOR EACH ROW EXECUTE FUNCTION vectorsync.notify_catalog_changed();
CREATE TRIGGER vectorsync_catalog_updated
  AFTER UPDATE ON vectorsync.indexes
  FOR EACH ROW WHEN (OLD.* IS DISTINCT FROM NEW.*) EXECUTE FUNCTION vectorsync.notify_catalog_changed();
CREATE TRIGGER vectorsync_catalog_truncated
  AFTER TRUNCATE ON vectorsync.indexes
  FOR EACH STATEMENT EXECUTE FUNCTION vectorsync.notify_catalog_changed();
