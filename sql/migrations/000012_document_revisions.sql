-- vectorsync schema, version 12: a revision counter per document of a collection built from
-- several tables. The triggers on a collection's related tables (variants, brands, …) add one
-- to the revision of every document a changed row belongs to, in the writing transaction; a
-- document's version is its source row's version plus this revision. Both only grow, and each
-- change of any part of a document makes one of them grow, so the version guard keeps its
-- meaning: a higher version is a later state of the whole document.
--
-- Rows are never deleted with their document: a row re-inserted under the same id must not
-- start below a tombstone. CDC streams this table (it is added to the publication when a CDC
-- collection has relations), so the stream names the affected documents exactly.
CREATE TABLE IF NOT EXISTS vectorsync.document_revisions (
  collection text NOT NULL,
  id text NOT NULL,
  revision bigint NOT NULL,
  PRIMARY KEY (collection, id)
);

-- The capture triggers run as the application's role, which has no privilege on this table:
-- reading a revision goes through this function, owned by vectorsync.
CREATE OR REPLACE FUNCTION vectorsync.document_revision(p_collection text, p_id text)
RETURNS bigint LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
  SELECT coalesce(
    (SELECT r.revision FROM vectorsync.document_revisions r WHERE r.collection = p_collection AND r.id = p_id),
    0)
$$;
