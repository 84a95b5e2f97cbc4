import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import { migrate } from '../src/db/migrator.js';
import { PgDatabase } from '../src/db/pg-database.js';
import { CdcApplyMarker } from '../src/sync/cdc-apply-marker.js';
import { PostgresCluster } from './helpers/postgres-cluster.js';

/**
 * Issue 11, chaos run 10 (cdc / LanceDB set an innocent change aside as WORKER_LOST, blamed 3 and
 * then 6 times). The next holder of the slot counted every marker another consumer had left as a
 * death of that consumer. But a Postgres restart ends every replication session while the
 * consumers live on: whichever takes the slot next found the marker and counted a crash, and the
 * same happened to a consumer that gave its session up while the store was away, and to a change
 * already set aside (no longer applied) when an outside kill came. A real poison change, one
 * that kills the consumer applying it, must still be counted every time. The cluster is this
 * file's own: it is restarted.
 */
describe('CDC crash counting', () => {
  let cluster: PostgresCluster;
  let db: PgDatabase;
  const slot = 'vs_crash_count';
  const lsn = 0x16b3748n;

  function consumer(id: string): CdcApplyMarker {
    return new CdcApplyMarker(db, slot, id);
  }

  async function restartServer(): Promise<void> {
    await db.close();
    await cluster.restart();
    db = PgDatabase.fromUrl(cluster.url('vs'), { max: 2 });
  }

  before(async () => {
    cluster = await PostgresCluster.start();
    const setup = new pg.Client({ connectionString: cluster.url() });
    await setup.connect();
    await setup.query('CREATE DATABASE vs');
    await setup.end();
    db = PgDatabase.fromUrl(cluster.url('vs'), { max: 2 });
    await migrate(db);
  });

  after(async () => {
    await db?.close();
    await cluster?.destroy();
  });

  it('does not count a session that ended with a server restart', async () => {
    // A applies change 2 of the transaction alone (a predecessor died there once already).
    await consumer('a').mark(lsn, 2, 1);
    // The source restarts: A's session ends, A lives on; B gets the slot first.
    await restartServer();
    const suspect = await consumer('b').takeOver();
    assert.deepEqual(suspect, { lsn, event: 2, crashes: 1 }, 'still applied alone, not one more death');
  });

  it('does not count an apply that was waiting for a dependency that was away', async () => {
    // B applies it, the store is away: B withdraws the marker while it waits, then gives up.
    const b = consumer('b');
    await b.mark(lsn, 2, 1);
    await b.withdraw();
    assert.deepEqual(await consumer('a').takeOver(), { lsn, event: 2, crashes: 1 });
  });

  it('counts each death while the change is being applied alone (a poison change)', async () => {
    await consumer('a').mark(lsn, 2, 1);
    // A dies applying it (no restart, nothing withdrawn): C counts it.
    assert.deepEqual(await consumer('c').takeOver(), { lsn, event: 2, crashes: 2 });
    await consumer('c').mark(lsn, 2, 2);
    assert.deepEqual(await consumer('d').takeOver(), { lsn, event: 2, crashes: 3 });
  });

  it('does not count deaths after the change was set aside (no longer applied)', async () => {
    // D found 3 crashes (sync.maxCrashes): it sets the change aside without applying it, and is
    // killed from outside before the slot moved on. E must not blame the change for that.
    assert.deepEqual(await consumer('e').takeOver(), { lsn, event: 2, crashes: 3 });
  });

  it('does not count the time between taking the slot and applying', async () => {
    await consumer('e').mark(lsn, 5, 0);
    await consumer('e').withdraw();
    // F takes over (a restart or a give-up) and dies before it applies anything itself.
    assert.deepEqual(await consumer('f').takeOver(), { lsn, event: 5, crashes: 0 });
    assert.deepEqual(await consumer('g').takeOver(), { lsn, event: 5, crashes: 0 });
  });

  it('counts no death when the previous marker was a batch, and none after it was cleared', async () => {
    await consumer('g').mark(lsn, null, 0);
    assert.deepEqual(await consumer('h').takeOver(), { lsn, event: null, crashes: 0 });
    await consumer('h').mark(lsn, 0, 0);
    await consumer('h').clear();
    assert.equal(await consumer('i').takeOver(), undefined);
  });
});
