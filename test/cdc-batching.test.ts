import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { emptyApplyStats } from '../src/sync/applier.js';
import { mergeRouted, splitByRow, takeBatch } from '../src/sync/cdc-batching.js';
import type { CdcTransaction } from '../src/sync/cdc-change-extractor.js';
import type { ChangeEvent } from '../src/sync/change-event.js';

const event = (id: string, op: ChangeEvent['op'] = 'upsert', n = 0): ChangeEvent => ({
  eventId: `${id}#${n}`,
  collection: 'products',
  tenant: 't',
  sourceId: id,
  op,
  sourceVersion: n,
});
const transaction = (xid: number, size: number): CdcTransaction => ({
  xid,
  endLsn: BigInt(xid),
  commitTime: new Date(0),
  events: Array.from({ length: size }, (_, i) => event(`x${xid}-${i}`)),
});

describe('CDC batching', () => {
  it('takes whole transactions in commit order up to the event limit; a large one alone', () => {
    const ready = [transaction(1, 3), transaction(2, 4), transaction(3, 10), transaction(4, 1)];
    assert.deepEqual(
      takeBatch(ready, 8, false).map((t) => t.xid),
      [1, 2],
    );
    assert.deepEqual(
      takeBatch(ready, 8, false).map((t) => t.xid),
      [3],
      'larger than the limit: alone, never split',
    );
    assert.deepEqual(
      takeBatch(ready, 8, false).map((t) => t.xid),
      [4],
    );
    assert.deepEqual(takeBatch(ready, 8, false), []);
  });

  it('one transaction at a time after a crash', () => {
    const ready = [transaction(1, 1), transaction(2, 1)];
    assert.deepEqual(
      takeBatch(ready, 100, true).map((t) => t.xid),
      [1],
    );
    assert.equal(ready.length, 1);
  });

  it('splits by row: every event of a row in one part, in order; a TRUNCATE or a small batch stays whole', () => {
    const events = Array.from({ length: 400 }, (_, i) => event(`r${i % 90}`, 'upsert', i));
    const parts = splitByRow(events, 4);
    assert.ok(parts.length > 1 && parts.length <= 4);
    assert.equal(
      parts.reduce((sum, part) => sum + part.length, 0),
      events.length,
    );
    for (const part of parts) {
      for (const other of parts.filter((p) => p !== part))
        assert.ok(!part.some((e) => other.some((o) => o.sourceId === e.sourceId)), 'a row in two parts');
      const versions = new Map<string, number>();
      for (const e of part) {
        assert.ok((versions.get(e.sourceId) ?? -1) < e.sourceVersion!, 'order kept within a row');
        versions.set(e.sourceId, e.sourceVersion!);
      }
    }
    assert.equal(splitByRow([...events, event('', 'truncate')], 4).length, 1);
    assert.equal(splitByRow(events.slice(0, 100), 4).length, 1);
    assert.equal(splitByRow(events, 1).length, 1);
  });

  it('merges the parts’ outcomes, published ids and statistics', () => {
    const a = {
      outcomes: new Map([['e1', { status: 'applied' as const }]]),
      stats: emptyApplyStats(),
      published: new Set(['e1']),
    };
    const b = {
      outcomes: new Map([['e2', { status: 'applied' as const }]]),
      stats: emptyApplyStats(),
      published: new Set<string>(),
    };
    const keys = Object.keys(a.stats) as Array<keyof typeof a.stats>;
    a.stats[keys[0]!] = 2;
    b.stats[keys[0]!] = 3;
    const merged = mergeRouted([a, b]);
    assert.deepEqual([...merged.outcomes.keys()], ['e1', 'e2']);
    assert.deepEqual([...merged.published], ['e1']);
    assert.equal(merged.stats[keys[0]!], 5);
  });
});
