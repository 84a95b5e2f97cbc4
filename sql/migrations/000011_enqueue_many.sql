-- vectorsync schema, version 11: one SQL entry point for new change events.
-- vectorsync.enqueue_many() queues one event per element of its arrays, all of one operation,
-- notifies the outbox channel once, and returns how many it queued. The capture triggers (statement-level, over their
-- transition tables), vectorsync.enqueue(), the backfill of a new index and reconciliation's
-- repairs all call it, so the checks and the wake-up are written once.
--
-- The collection is checked for every caller but the capture triggers: a trigger exists only
-- for a collection setup registered, and an application's write must never fail because the
-- catalog row went first (a collection being removed).
CREATE OR REPLACE FUNCTION vectorsync.enqueue_many(
  p_collection text,
  p_op text,
  p_tenants text[],
  p_source_ids text[],
  p_source_versions bigint[] DEFAULT NULL,
  p_origin text DEFAULT 'app'
) RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
  v_count bigint;
BEGIN
  -- Nested, not one condition: PL/pgSQL plans a statement when it first runs it, and Postgres
  -- checks privileges on every table of a plan, so the triggers' path (run as the application's
  -- role) must never reach a statement that reads vectorsync.collections.
  IF p_origin IS DISTINCT FROM 'trigger' THEN
    IF NOT EXISTS (SELECT 1 FROM vectorsync.collections WHERE name = p_collection) THEN
      RAISE EXCEPTION 'vectorsync: unknown collection "%"', p_collection
        USING ERRCODE = 'undefined_object', HINT = 'declare it in the config and run vectorsync setup';
    END IF;
  END IF;
  IF p_op IS NULL OR p_op NOT IN ('upsert', 'delete', 'truncate') THEN
    RAISE EXCEPTION 'vectorsync: enqueue_many op must be upsert, delete or truncate, got "%" (collection "%")',
      p_op, p_collection USING ERRCODE = 'invalid_parameter_value';
  END IF;
  IF coalesce(cardinality(p_tenants), 0) <> coalesce(cardinality(p_source_ids), 0)
     OR (p_source_versions IS NOT NULL AND cardinality(p_source_versions) <> coalesce(cardinality(p_source_ids), 0)) THEN
    RAISE EXCEPTION 'vectorsync: enqueue_many needs arrays of one length (collection "%": % tenants, % ids, % versions)',
      p_collection, coalesce(cardinality(p_tenants), 0), coalesce(cardinality(p_source_ids), 0),
      coalesce(cardinality(p_source_versions)::text, 'no')
      USING ERRCODE = 'invalid_parameter_value';
  END IF;
  IF array_position(p_tenants, NULL) IS NOT NULL OR array_position(p_source_ids, NULL) IS NOT NULL THEN
    RAISE EXCEPTION 'vectorsync: enqueue needs a tenant and a source id (collection "%")', p_collection
      USING ERRCODE = 'not_null_violation';
  END IF;
  -- No RETURNING: it would need SELECT on the outbox, which an application's writers lack
  -- (they need INSERT on it and USAGE on its sequence, nothing more). Ids follow the order of the arrays.
  INSERT INTO vectorsync.outbox (collection, tenant, source_id, op, source_version, origin)
  SELECT p_collection, u.tenant, u.source_id, p_op, u.source_version, p_origin
    FROM unnest(p_tenants, p_source_ids, p_source_versions) WITH ORDINALITY AS u(tenant, source_id, source_version, n)
   ORDER BY u.n;
  GET DIAGNOSTICS v_count = ROW_COUNT;
  IF v_count > 0 THEN
    PERFORM pg_notify('vectorsync_outbox', p_collection);
  END IF;
  RETURN v_count;
END
$$;

-- The application's one-event call, now a call of the entry point. It returns the event's id
-- from the sequence (currval needs only the USAGE its writers have).
CREATE OR REPLACE FUNCTION vectorsync.enqueue(
  p_collection text,
  p_tenant text,
  p_source_id text,
  p_op text DEFAULT 'upsert',
  p_source_version bigint DEFAULT NULL
) RETURNS bigint LANGUAGE plpgsql AS $$
BEGIN
  PERFORM vectorsync.enqueue_many(
    p_collection, p_op, ARRAY[p_tenant], ARRAY[p_source_id], ARRAY[p_source_version], 'app');
  RETURN currval('vectorsync.outbox_id_seq');
END
$$;
