import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseConfig } from '../src/config/resolve-config.js';
import { PgDatabase } from '../src/db/pg-database.js';
import { demoConfig } from '../src/demo/demo-schema.js';
import { ErrorCode, isVectorsyncError } from '../src/errors.js';
import type { PgvectorStoreConfig } from '../src/stores/pgvector/pgvector-config.js';
import { PgvectorStore } from '../src/stores/pgvector/pgvector-store.js';
import { freePort } from './helpers/postgres-cluster.js';

describe('a pgvector store that cannot be reached', () => {
  it('raises STORE_UNAVAILABLE with the reason, and keeps the driver text (address, port) out of the message', async () => {
    const port = await freePort();
    const db = PgDatabase.fromUrl(`postgres://vectorsync@127.0.0.1:${port}/vectors`, { max: 1 });
    const config = parseConfig(demoConfig()).stores.main as PgvectorStoreConfig;
    const store = new PgvectorStore(db, config, { sameDatabaseAsSource: false, ownsDatabase: true });
    try {
      const error = await store.ping().then(
        () => undefined,
        (caught: unknown) => caught,
      );
      assert.ok(isVectorsyncError(error, ErrorCode.StoreUnavailable), String(error));
      assert.equal(error.transient, true);
      // The message can reach an HTTP client (503): no address, port or driver wording in it.
      assert.equal(error.message, 'pgvector store unreachable: connection refused');
      assert.doesNotMatch(error.message, new RegExp(`ECONNREFUSED|127\\.0\\.0\\.1|${port}`));
      assert.match(
        String((error.cause as Error).message),
        /ECONNREFUSED/,
        'the driver text stays in the cause',
      );
      assert.deepEqual(error.details, {}, 'nothing of the target goes to a client either');
    } finally {
      await db.close();
    }
  });
});
