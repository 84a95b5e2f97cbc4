-- vectorsync schema, version 7: every API key is of exactly one kind.
--
--   tenant   the data endpoints (documents, search) of its own tenant, nothing else;
--   service  the data endpoints of any tenant, named per request (x-vectorsync-tenant header);
--   admin    the operational endpoints, and the data endpoints of a tenant named per request.
--
-- Until now a key had a tenant and an admin flag, and `keys create --tenant t --admin` made a
-- key that was both: the operational endpoints plus tenant t's data. Such a key becomes a
-- tenant key of t and loses its admin rights. Making it an admin (or service) key instead
-- would let it read and write every tenant's data, which it never could; as a tenant key every
-- data request it made keeps working unchanged, and its operational requests now fail loudly
-- with 403 FORBIDDEN rather than silently gaining anything. Operators create an admin key for
-- those (`vectorsync keys create --name ops --admin`); `keys list` before the upgrade shows the
-- affected keys (admin and a tenant).
ALTER TABLE vectorsync.api_keys ADD COLUMN kind text;
UPDATE vectorsync.api_keys SET kind = CASE WHEN tenant IS NOT NULL THEN 'tenant' ELSE 'admin' END;
ALTER TABLE vectorsync.api_keys ALTER COLUMN kind SET NOT NULL;

-- is_admin stays, derived from the kind, for processes of the previous version that still run
-- during an upgrade: they read it when they authenticate (a service key reads as a key with no
-- tenant and no admin rights, which they refuse). Their `keys create` fails against this
-- schema instead of writing a key of no kind. Dropping the column drops its old CHECK
-- (is_admin OR tenant IS NOT NULL) too.
ALTER TABLE vectorsync.api_keys DROP COLUMN is_admin;
ALTER TABLE vectorsync.api_keys
  ADD COLUMN is_admin boolean GENERATED ALWAYS AS (kind = 'admin') STORED,
  ADD CONSTRAINT api_keys_kind CHECK (kind IN ('tenant', 'service', 'admin')),
  ADD CONSTRAINT api_keys_tenant_iff_tenant_kind CHECK ((kind = 'tenant') = (tenant IS NOT NULL));
