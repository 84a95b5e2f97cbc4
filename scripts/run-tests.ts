/**
 * `npm test`: provisions a throwaway PostgreSQL cluster (unless DATABASE_URL is set) and a
 * NATS server, migrates a template database once, then runs every test file with node's own
 * test runner; each file creates its own database from the template.
 */
import { spawn } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import pg from 'pg';
import { migrate } from '../src/db/migrator.js';
import { PgDatabase } from '../src/db/pg-database.js';
import { NatsServer } from '../test/helpers/nats-server.js';
import { PostgresCluster } from '../test/helpers/postgres-cluster.js';

function findTests(dir: string): string[] {
  const found: string[] = [];
  for (const entry of readdirSync(dir)) {
    const path = join(dir, entry);
    if (statSync(path).isDirectory()) found.push(...findTests(path));
    else if (entry.endsWith('.test.ts')) found.push(relative(process.cwd(), path));
  }
  return found.sort();
}

async function main(): Promise<number> {
  const requested = process.argv.slice(2).filter((arg) => !arg.startsWith('--'));
  const passThrough = process.argv.slice(2).filter((arg) => arg.startsWith('--'));
  const files = requested.length > 0 ? requested : findTests('test');

  let cluster: PostgresCluster | undefined;
  let adminUrl = process.env.DATABASE_URL;
  const cleanups: Array<() => Promise<void>> = [];
  const cleanup = async () => {
    for (const step of cleanups.reverse()) await step().catch((error) => console.error(error));
  };
  process.on('SIGINT', () => void cleanup().then(() => process.exit(130)));

  try {
    if (adminUrl) {
      console.log(`[tests] using DATABASE_URL (${new URL(adminUrl).host})`);
    } else {
      const started = Date.now();
      cluster = await PostgresCluster.start();
      const c = cluster;
      cleanups.push(() => c.destroy());
      adminUrl = cluster.url();
      console.log(
        `[tests] started PostgreSQL on port ${cluster.port} (wal_level=logical) in ${Date.now() - started} ms`,
      );
    }

    const template = `vectorsync_template_${process.pid}`;
    const admin = new pg.Client({ connectionString: adminUrl });
    await admin.connect();
    await admin.query(`CREATE DATABASE ${pg.escapeIdentifier(template)}`);
    cleanups.push(async () => {
      const client = new pg.Client({ connectionString: adminUrl });
      await client.connect();
      await client.query(`DROP DATABASE IF EXISTS ${pg.escapeIdentifier(template)} WITH (FORCE)`);
      await client.end();
    });
    await admin.end();
    const templateUrl = new URL(adminUrl);
    templateUrl.pathname = `/${template}`;
    const templateDb = PgDatabase.fromUrl(templateUrl.toString(), { max: 1 });
    await templateDb.query('CREATE EXTENSION IF NOT EXISTS vector');
    const { current } = await migrate(templateDb);
    await templateDb.close();
    console.log(
      `[tests] template database ${template} migrated to ${current}; running ${files.length} test file(s)`,
    );

    let natsUrl = process.env.VECTORSYNC_TEST_NATS_URL;
    if (!natsUrl) {
      const nats = await NatsServer.start();
      cleanups.push(() => nats.destroy());
      natsUrl = nats.url();
      console.log(`[tests] started nats-server (JetStream) on port ${nats.port}`);
    }

    const env: NodeJS.ProcessEnv = {
      ...process.env,
      VECTORSYNC_TEST_NATS_URL: natsUrl,
      VECTORSYNC_TEST_ADMIN_URL: adminUrl,
      VECTORSYNC_TEST_TEMPLATE: template,
      ...(cluster
        ? {
            VECTORSYNC_TEST_PG_DATADIR: cluster.dataDir,
            VECTORSYNC_TEST_PG_BINDIR: cluster.binDir,
            VECTORSYNC_TEST_PG_PORT: String(cluster.port),
          }
        : {}),
    };
    const concurrency = process.env.VECTORSYNC_TEST_CONCURRENCY ?? '2';
    const args = [
      '--import',
      'tsx',
      '--test',
      `--test-concurrency=${concurrency}`,
      // A failed test can leave a handle open (a search probe, a timer); the file must still end.
      '--test-force-exit',
      '--test-reporter=spec',
      '--test-reporter-destination=stdout',
      `--test-reporter=${join(import.meta.dirname, 'test-exit-reporter.mjs')}`,
      '--test-reporter-destination=stdout',
      ...passThrough,
      ...files,
    ];
    const code = await new Promise<number>((resolve) => {
      const child = spawn(process.execPath, args, { stdio: 'inherit', env });
      child.on('exit', (exitCode, signal) => resolve(exitCode ?? (signal ? 1 : 0)));
    });
    return code;
  } finally {
    await cleanup();
  }
}

main().then(
  (code) => process.exit(code),
  (error) => {
    console.error('[tests] failed to start:', error);
    process.exit(1);
  },
);
