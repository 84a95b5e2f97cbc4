-- vectorsync schema, version 10: every change of the catalog of index versions notifies the
-- channel vectorsync_indexes (delivered at commit, so a listener that reloads then sees it).
-- Processes reload their frozen snapshot of the catalog on it instead of waiting for their next
-- timed refresh; the timer stays as the safety net for a lost notification.
CREATE OR REPLACE FUNCTION vectorsync.notify_catalog_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('vectorsync_indexes', '');
  RETURN NULL;
END;
$$;

DROP TRIGGER IF EXISTS vectorsync_catalog_changed ON vectorsync.indexes;
CREATE TRIGGER vectorsync_catalog_changed
  AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON vectorsync.indexes
  FOR EACH STATEMENT EXECUTE FUNCTION vectorsync.notify_catalog_changed();
