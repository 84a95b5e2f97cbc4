import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import type { CheckFinding } from '../src/check/check-finding.js';
import { runCheck } from '../src/check/run-check.js';
import type { ConfigInput } from '../src/config/config-schema.js';
import { parseConfig } from '../src/config/resolve-config.js';
import { PgDatabase } from '../src/db/pg-database.js';
import { demoConfig } from '../src/demo/demo-schema.js';
import { VectorsyncRuntime } from '../src/runtime/vectorsync-runtime.js';
import { setupCollections } from '../src/sync/setup-collections.js';
import { runCli } from './helpers/cli-process.js';
import { createProductsTable } from './helpers/products-fixture.js';
import { adminUrl, createTestDatabase, type TestDatabase } from './helpers/test-environment.js';

/** A collection over public.notes, the shape a newcomer brings: an id, a tenant, a version. */
function notesConfig(url: string, collection: Partial<ConfigInput['collections'][string]> = {}): ConfigInput {
  return {
    databaseUrl: url,
    embedders: { default: { provider: 'hash', dimensions: 16 } },
    stores: { main: { provider: 'pgvector' } },
    collections: {
      notes: {
        table: 'public.notes',
        primaryKey: 'id',
        tenantColumn: 'tenant_id',
        versionColumn: 'version',
        text: '{{body}}',
        store: 'main',
        embedder: 'default',
        ...collection,
      },
    },
  };
}

async function check(db: PgDatabase, config: ConfigInput): Promise<CheckFinding[]> {
  return (await runCheck(db, parseConfig(config))).findings;
}

function codes(findings: CheckFinding[]): string[] {
  return findings.map((finding) => finding.code);
}

function find(findings: CheckFinding[], code: string): CheckFinding {
  const found = findings.find((finding) => finding.code === code);
  assert.ok(found, `expected a ${code} finding, got ${JSON.stringify(findings, null, 2)}`);
  return found;
}

describe('vectorsync check on a fresh database', () => {
  let testDb: TestDatabase;
  before(async () => {
    testDb = await createTestDatabase('check_fresh', { empty: true });
    await createProductsTable(testDb.db);
  });
  after(async () => {
    await testDb.drop();
  });

  it('reports pending migrations as a finding instead of refusing', async () => {
    const result = await runCheck(testDb.db, parseConfig({ ...demoConfig(), databaseUrl: testDb.url }));
    const notInstalled = find(result.findings, 'NOT_INSTALLED');
    assert.equal(notInstalled.severity, 'info');
    assert.match(notInstalled.hint ?? '', /vectorsync setup/);
    assert.equal(result.counts.error, 0, JSON.stringify(result.findings, null, 2));
    assert.deepEqual(
      result.collections.map((c) => [c.collection, c.table, c.index]),
      [['products', 'public.products', undefined]],
    );
  });

  it('exits 0 with warnings, 1 with --strict, and prints JSON with codes, objects and hints', async () => {
    const config = { ...demoConfig(), databaseUrl: testDb.url };
    const human = await runCli(config, ['check']);
    assert.equal(human.code, 0, human.output);
    assert.match(
      human.stdout,
      /^warning +PRIMARY_KEY_GLOBAL +public\.products primary key products_pkey \(article_id\)$/m,
    );
    assert.match(human.stdout, /^ +hint: use a tenant-scoped key/m);
    assert.match(human.stdout, /^check: 0 errors, 1 warning, 2 info$/m);

    const strict = await runCli(config, ['check', '--strict', '--json']);
    assert.equal(strict.code, 1, strict.output);
    const report = JSON.parse(strict.stdout);
    assert.equal(report.ok, false);
    assert.deepEqual(report.counts, { error: 0, warning: 1, info: 2 });
    assert.deepEqual(
      report.findings.map((f: CheckFinding) => [f.severity, f.code, f.collection]),
      [
        ['warning', 'PRIMARY_KEY_GLOBAL', 'products'],
        ['info', 'NOT_INSTALLED', undefined],
        ['info', 'VERSION_TRIGGER_NOT_INSTALLED', 'products'],
      ],
    );
  });

  it('reports an invalid config as findings with suggestions, exit 1', async () => {
    const config = { ...demoConfig(), databaseUrl: testDb.url } as Record<string, any>;
    config.collections.products.sync = { mode: 'outbx' };
    const result = await runCli(config, ['check', '--json']);
    assert.equal(result.code, 1, result.output);
    const report = JSON.parse(result.stdout);
    assert.deepEqual(report.findings, [
      {
        severity: 'error',
        code: 'CONFIG_INVALID',
        object: 'collections.products.sync.mode',
        message: '"outbx" is not one of "outbox", "cdc", "dual-write" (did you mean "outbox"?)',
      },
    ]);
  });

  it('names a missing table with the closest one', async () => {
    const config = { ...demoConfig(), databaseUrl: testDb.url } as Record<string, any>;
    config.collections.products.table = 'public.product';
    const finding = find(await check(testDb.db, config as ConfigInput), 'SOURCE_TABLE_NOT_FOUND');
    assert.equal(finding.severity, 'error');
    assert.match(finding.message, /table public\.product does not exist \(did you mean "products"\?\)/);
  });
});

describe('vectorsync check: the source table', () => {
  let testDb: TestDatabase;
  before(async () => {
    testDb = await createTestDatabase('check_table');
  });
  after(async () => {
    await testDb.drop();
  });

  it('warns about a nullable tenant column and a version column nothing maintains', async () => {
    await testDb.db.query(
      'CREATE TABLE notes (id bigint PRIMARY KEY, tenant_id text, version bigint NOT NULL DEFAULT 0, body text)',
    );
    const findings = await check(testDb.db, notesConfig(testDb.url));
    const tenant = find(findings, 'TENANT_COLUMN_NULLABLE');
    assert.equal(tenant.severity, 'warning');
    assert.equal(tenant.object, 'public.notes.tenant_id');
    assert.match(tenant.hint ?? '', /ALTER TABLE public\.notes ALTER COLUMN "tenant_id" SET NOT NULL/);
    const version = find(findings, 'VERSION_NOT_MAINTAINED');
    assert.equal(version.object, 'public.notes.version');
    assert.match(version.message, /public\.notes has no enabled BEFORE UPDATE row trigger/);
    assert.match(version.hint ?? '', /manageVersion/);

    await testDb.db.query('ALTER TABLE notes ALTER COLUMN tenant_id SET NOT NULL');
    assert.ok(!codes(await check(testDb.db, notesConfig(testDb.url))).includes('TENANT_COLUMN_NULLABLE'));
  });

  it('accepts a BEFORE UPDATE trigger that sets the version, and names the ones that do not', async () => {
    await testDb.db.query(`
      CREATE FUNCTION audit_touch() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NEW; END $$;
      CREATE TRIGGER audit BEFORE UPDATE ON notes FOR EACH ROW EXECUTE FUNCTION audit_touch();
      CREATE FUNCTION bump_on_body() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN NEW.version := NEW.version + 1; RETURN NEW; END $$;
      CREATE TRIGGER bump_on_body BEFORE UPDATE OF body ON notes FOR EACH ROW EXECUTE FUNCTION bump_on_body();`);
    const version = find(await check(testDb.db, notesConfig(testDb.url)), 'VERSION_NOT_MAINTAINED');
    // bump_on_body fires only when body is in the SET list: it does not count.
    assert.match(
      version.message,
      /none of the BEFORE UPDATE row triggers of public\.notes \(audit\) mentions it/,
    );

    await testDb.db.query(`
      CREATE FUNCTION bump_version() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN NEW.version := NEW.version + 1; RETURN NEW; END $$;
      CREATE TRIGGER bump_version BEFORE INSERT OR UPDATE ON notes FOR EACH ROW EXECUTE FUNCTION bump_version();`);
    assert.ok(!codes(await check(testDb.db, notesConfig(testDb.url))).includes('VERSION_NOT_MAINTAINED'));

    // Disabled, it maintains nothing.
    await testDb.db.query('ALTER TABLE notes DISABLE TRIGGER bump_version');
    assert.ok(codes(await check(testDb.db, notesConfig(testDb.url))).includes('VERSION_NOT_MAINTAINED'));
    await testDb.db.query('ALTER TABLE notes ENABLE TRIGGER bump_version');
  });

  it("with manageVersion, counts vectorsync's own trigger once setup installed it", async () => {
    const config = notesConfig(testDb.url, { manageVersion: true });
    const before = await check(testDb.db, config);
    assert.equal(find(before, 'VERSION_TRIGGER_NOT_INSTALLED').severity, 'info');
    assert.ok(!codes(before).includes('VERSION_NOT_MAINTAINED'));
    assert.equal(find(before, 'INDEX_NOT_BUILT').severity, 'info');

    const runtime = await VectorsyncRuntime.open({ config: parseConfig(config), db: testDb.connect() });
    try {
      await setupCollections(runtime);
    } finally {
      await runtime.close();
    }
    const after = await runCheck(testDb.db, parseConfig(config));
    assert.ok(!codes(after.findings).includes('VERSION_TRIGGER_NOT_INSTALLED'));
    assert.ok(!codes(after.findings).includes('INDEX_NOT_BUILT'));
    assert.match(after.collections[0]!.index ?? '', /notes/);
  });

  it('warns about a key unique across tenants, naming the constraint, and not about a tenant-scoped one', async () => {
    const global = find(await check(testDb.db, notesConfig(testDb.url)), 'PRIMARY_KEY_GLOBAL');
    assert.equal(global.severity, 'warning');
    assert.equal(global.object, 'public.notes primary key notes_pkey (id)');
    assert.match(
      global.message,
      /DOCUMENT_EXISTS, which tells the caller that the id exists in another tenant/,
    );
    assert.match(global.hint ?? '', /PRIMARY KEY \("tenant_id", "id"\).*server generates/);

    // Server-generated ids are mentioned, and the leak stays (a client may still send an id).
    await testDb.db.query(`CREATE TABLE scoped (
      tenant_id text NOT NULL, id bigint GENERATED BY DEFAULT AS IDENTITY, version bigint NOT NULL, body text,
      PRIMARY KEY (tenant_id, id))`);
    await testDb.db.query('CREATE UNIQUE INDEX scoped_id_global ON scoped (id)');
    const scopedConfig = notesConfig(testDb.url, { table: 'public.scoped' });
    const unique = find(await check(testDb.db, scopedConfig), 'PRIMARY_KEY_GLOBAL');
    assert.equal(unique.object, 'public.scoped unique index scoped_id_global (id)');
    assert.match(unique.message, /id has a default, but a client may still send its own id/);

    // Without the global unique index the key is tenant-scoped: no leak (the single-column
    // primaryKey is then not unique on its own, which the collection check reports).
    await testDb.db.query('DROP INDEX scoped_id_global');
    const scoped = await check(testDb.db, scopedConfig);
    assert.ok(!codes(scoped).includes('PRIMARY_KEY_GLOBAL'), JSON.stringify(scoped, null, 2));
  });

  it('reports config that does not match the table as errors naming the key', async () => {
    const finding = find(
      await check(testDb.db, notesConfig(testDb.url, { text: '{{bdy}}' })),
      'COLLECTION_MISMATCH',
    );
    assert.equal(finding.severity, 'error');
    assert.equal(finding.object, 'collections.notes.text');
    assert.match(finding.message, /column "bdy" does not exist in public\.notes \(did you mean "body"\?\)/);
  });
});

/**
 * The privilege findings, each for a role that lacks exactly what it names, and gone once
 * that is granted. A role without findings can then run setup: the check tells the truth.
 */
describe('vectorsync check: privileges', () => {
  const role = `vs_check_app_${process.pid}`;
  const writer = `vs_check_writer_${process.pid}`;
  let owned: TestDatabase;
  let fresh: TestDatabase;
  const admin = new pg.Client({ connectionString: adminUrl() });
  const asRole = (database: TestDatabase) => {
    const url = new URL(database.url);
    url.username = role;
    return url.toString();
  };
  const pools: PgDatabase[] = [];
  const connectAs = (database: TestDatabase) => {
    const pool = PgDatabase.fromUrl(asRole(database), { max: 2, applicationName: 'vectorsync-test-role' });
    pools.push(pool);
    return pool;
  };

  before(async () => {
    await admin.connect();
    await admin.query(`CREATE ROLE ${role} LOGIN`);
    owned = await createTestDatabase('check_priv');
    fresh = await createTestDatabase('check_priv_fresh', { empty: true });
    for (const database of [owned, fresh]) {
      await database.db.query(
        'CREATE TABLE notes (id bigint PRIMARY KEY, tenant_id text NOT NULL, version bigint NOT NULL DEFAULT 0, body text)',
      );
      await database.db.query(`GRANT SELECT ON notes TO ${role}`);
    }
  });
  after(async () => {
    for (const pool of pools) await pool.close();
    await owned.drop();
    await fresh.drop();
    await admin.query(`DROP ROLE IF EXISTS ${role}`);
    await admin.query(`DROP ROLE IF EXISTS ${writer}`);
    await admin.end();
  });

  it('names CREATE EXTENSION and CREATE on the database on a fresh database', async () => {
    const findings = await check(connectAs(fresh), notesConfig(asRole(fresh), { manageVersion: true }));
    const extension = find(findings, 'PRIVILEGE_CREATE_EXTENSION');
    assert.equal(extension.severity, 'error');
    assert.equal(extension.object, 'extension vector');
    assert.match(extension.message, /pgvector is not a trusted extension: creating it takes a superuser/);
    assert.match(extension.hint ?? '', /CREATE EXTENSION vector/);
    const schema = find(findings, 'PRIVILEGE_CREATE_SCHEMA');
    assert.match(schema.message, new RegExp(`role "${role}" may not create it \\(no CREATE on database`));
    assert.match(schema.hint ?? '', /GRANT CREATE ON DATABASE/);

    await fresh.db.query('CREATE EXTENSION vector');
    await fresh.db.query(`GRANT CREATE ON DATABASE ${pg.escapeIdentifier(fresh.name)} TO ${role}`);
    const granted = codes(await check(connectAs(fresh), notesConfig(asRole(fresh), { manageVersion: true })));
    assert.ok(
      !granted.includes('PRIVILEGE_CREATE_EXTENSION') && !granted.includes('PRIVILEGE_CREATE_SCHEMA'),
    );
  });

  it('names table ownership, REFERENCES and the vectorsync schema for the outbox mode', async () => {
    const db = connectAs(owned);
    const config = notesConfig(asRole(owned), { manageVersion: true });
    const findings = await check(db, config);
    const owner = find(findings, 'PRIVILEGE_TABLE_OWNER');
    assert.equal(owner.object, 'public.notes');
    assert.match(owner.message, /install the outbox capture triggers and install the version trigger/);
    assert.match(owner.message, /TRIGGER privilege is not enough/);
    assert.match(find(findings, 'PRIVILEGE_SOURCE_TABLE').message, /REFERENCES on public\.notes/);
    assert.match(find(findings, 'PRIVILEGE_SCHEMA').hint ?? '', /GRANT USAGE, CREATE ON SCHEMA vectorsync/);
    assert.match(
      find(findings, 'PRIVILEGE_VECTORSYNC_TABLES').message,
      /SELECT\/INSERT\/UPDATE\/DELETE on vectorsync\.outbox/,
    );
    assert.ok(!codes(findings).includes('PRIVILEGE_REPLICATION'), 'REPLICATION is a CDC need only');
    // Without a privilege the check does not die; it reports.
    assert.ok(!codes(findings).includes('MIGRATIONS_PENDING'));

    // Setup as this role fails where the check said it would.
    await assert.rejects(openAndSetup(db, config), /permission denied|must be owner/);

    const tableOwner = (
      await owned.db.query<{ owner: string }>(
        `SELECT pg_get_userbyid(relowner) AS owner FROM pg_class WHERE oid = 'notes'::regclass`,
      )
    ).rows[0]!.owner;
    await owned.db.query(`
      GRANT ${pg.escapeIdentifier(tableOwner)} TO ${role};
      GRANT USAGE, CREATE ON SCHEMA vectorsync TO ${role};
      GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA vectorsync TO ${role};
      GRANT USAGE ON ALL SEQUENCES IN SCHEMA vectorsync TO ${role};`);
    const after = await runCheck(db, parseConfig(config));
    assert.equal(after.counts.error, 0, JSON.stringify(after.findings, null, 2));
    await openAndSetup(db, config);
    await owned.db.query(`REVOKE ${pg.escapeIdentifier(tableOwner)} FROM ${role}`);

    // The capture and version triggers run as the application's role: what docs/sync-modes.md
    // says its writers need is exactly what they need.
    await admin.query(`CREATE ROLE ${writer} LOGIN`);
    await owned.db.query(`GRANT INSERT ON notes TO ${writer}`);
    const writerUrl = new URL(owned.url);
    writerUrl.username = writer;
    const app = PgDatabase.fromUrl(writerUrl.toString(), {
      max: 1,
      applicationName: 'vectorsync-test-writer',
    });
    pools.push(app);
    const insert = (id: number) =>
      app.query(`INSERT INTO notes (id, tenant_id, body) VALUES ($1, 't1', 'a note')`, [id]);
    await assert.rejects(insert(1), /permission denied for (schema|table|sequence)/);
    await owned.db.query(`
      GRANT USAGE ON SCHEMA vectorsync TO ${writer};
      GRANT INSERT ON vectorsync.outbox TO ${writer};
      GRANT USAGE ON SEQUENCE vectorsync.outbox_id_seq, vectorsync.row_version TO ${writer};`);
    await insert(1);
    const queued = await owned.db.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM vectorsync.outbox WHERE source_id = '1'`,
    );
    assert.equal(queued.rows[0]!.n, 1);
    // More than five calls (where plpgsql may switch to a generic plan), a bulk statement, an
    // update and a delete: the capture path asks nothing more of the writer.
    for (let id = 2; id <= 8; id++) await insert(id);
    await app.query(
      `INSERT INTO notes (id, tenant_id, body) SELECT g, 't1', 'bulk' FROM generate_series(9, 20) g`,
    );
    await owned.db.query(`GRANT UPDATE, DELETE, SELECT ON notes TO ${writer}`);
    await app.query(`UPDATE notes SET body = 'edited' WHERE id <= 3`);
    await app.query(`DELETE FROM notes WHERE id = 20`);
    const events = await owned.db.query<{ op: string; n: number }>(
      `SELECT op, count(*)::int AS n FROM vectorsync.outbox WHERE collection = 'notes' AND origin = 'trigger' GROUP BY op ORDER BY op`,
    );
    assert.deepEqual(events.rows, [
      { op: 'delete', n: 1 },
      { op: 'upsert', n: 23 },
    ]);
  });

  it('names REPLICATION, publication and ownership for CDC', async () => {
    const db = connectAs(owned);
    const config = notesConfig(asRole(owned), { sync: { mode: 'cdc', bus: false } });
    const findings = await check(db, config);
    const replication = find(findings, 'PRIVILEGE_REPLICATION');
    assert.equal(replication.severity, 'error');
    assert.equal(replication.object, `role ${role}`);
    assert.match(replication.hint ?? '', new RegExp(`ALTER ROLE "${role}" REPLICATION`));
    assert.match(find(findings, 'PRIVILEGE_TABLE_OWNER').message, /add it to publication "vectorsync"/);
    assert.doesNotMatch(find(findings, 'PRIVILEGE_TABLE_OWNER').message, /TRIGGER/);

    assert.match(
      find(findings, 'PRIVILEGE_PUBLICATION').message,
      /publication "vectorsync" does not exist and role "[^"]+" may not create it \(no CREATE on database/,
    );
    assert.ok(!codes(findings).includes('REPLICA_IDENTITY_MISSING'));

    await admin.query(`ALTER ROLE ${role} REPLICATION`);
    assert.ok(!codes(await check(db, config)).includes('PRIVILEGE_REPLICATION'));

    // A publication of someone else's, and a table whose deletes would stream without a key.
    await owned.db.query('CREATE PUBLICATION vectorsync');
    await owned.db.query('ALTER TABLE notes REPLICA IDENTITY NOTHING');
    const later = await check(db, config);
    assert.match(find(later, 'PRIVILEGE_PUBLICATION').message, /publication "vectorsync" belongs to "/);
    assert.match(find(later, 'REPLICA_IDENTITY_MISSING').message, /replica identity NOTHING/);
    await owned.db.query('DROP PUBLICATION vectorsync; ALTER TABLE notes REPLICA IDENTITY DEFAULT');
  });

  it('names the documents API writes dual-write needs', async () => {
    const db = connectAs(owned);
    const config = notesConfig(asRole(owned), { sync: { mode: 'dual-write', bus: false } });
    const table = find(await check(db, config), 'PRIVILEGE_SOURCE_TABLE');
    assert.equal(table.severity, 'error');
    assert.match(table.message, /INSERT on public\.notes \(the documents API writes it\), UPDATE .*, DELETE/);
    // REFERENCES too: the previous test revoked the ownership that gave it.
    assert.match(
      table.hint ?? '',
      new RegExp(`GRANT REFERENCES, INSERT, UPDATE, DELETE ON public\\.notes TO "${role}"`),
    );
  });
});

describe('vectorsync check: the schema of the source table', () => {
  const role = `vs_check_schema_${process.pid}`;
  let testDb: TestDatabase;
  let db: PgDatabase;
  before(async () => {
    testDb = await createTestDatabase('check_schema');
    await testDb.db.query(`CREATE ROLE ${role} LOGIN`);
    await testDb.db.query(`CREATE SCHEMA app;
      CREATE TABLE app.notes (id bigint PRIMARY KEY, tenant_id text NOT NULL, version bigint NOT NULL, body text);
      GRANT SELECT ON app.notes TO ${role}`);
    const url = new URL(testDb.url);
    url.username = role;
    db = PgDatabase.fromUrl(url.toString(), { max: 1, applicationName: 'vectorsync-test-role' });
  });
  after(async () => {
    await db.close();
    await testDb.drop();
    const admin = new pg.Client({ connectionString: adminUrl() });
    await admin.connect();
    await admin.query(`DROP ROLE IF EXISTS ${role}`);
    await admin.end();
  });

  it('names USAGE on the schema that holds the table', async () => {
    const config = notesConfig(testDb.url, { table: 'app.notes', sync: { mode: 'cdc', bus: false } });
    const findings = await check(db, config);
    const schema = findings.find((f) => f.code === 'PRIVILEGE_SCHEMA' && f.object === 'schema app');
    assert.ok(schema, JSON.stringify(findings, null, 2));
    assert.match(schema.message, /lacks USAGE on schema app, which holds app\.notes/);
    assert.match(schema.hint ?? '', new RegExp(`GRANT USAGE ON SCHEMA "app" TO "${role}"`));
    await testDb.db.query(`GRANT USAGE ON SCHEMA app TO ${role}`);
    const granted = await check(db, config);
    assert.ok(!granted.some((f) => f.code === 'PRIVILEGE_SCHEMA' && f.object === 'schema app'));
  });
});

async function openAndSetup(db: PgDatabase, config: ConfigInput): Promise<void> {
  const runtime = await VectorsyncRuntime.open({ config: parseConfig(config), db });
  try {
    await setupCollections(runtime);
  } finally {
    await runtime.close();
  }
}
