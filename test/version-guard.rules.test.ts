import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { EmbeddedDocument } from '../src/pipeline/index-document.js';
import {
  byScoreThenId,
  deleteDecision,
  inRequestOrder,
  recordFingerprint,
  type StoredState,
  upsertWins,
} from '../src/stores/version-guard.js';

/**
 * The decisions of the version guard that LanceDB and Qdrant share, rule by rule. The store
 * contract suite (`test/store-contract*.test.ts`) checks the same rules end to end on each store.
 */
const live = (version: number, fingerprint = 'f', tenant = 't1'): StoredState => ({
  tenant,
  version,
  deleted: false,
  fingerprint,
});
const tombstone = (version: number, tenant = 't1'): StoredState => ({
  tenant,
  version,
  deleted: true,
  fingerprint: '',
});

function document(overrides: Partial<EmbeddedDocument> = {}): EmbeddedDocument {
  return {
    collection: 'products',
    tenant: 't1',
    id: 'a',
    version: 3,
    contentHash: 'h1',
    text: 'linen shirt',
    keywords: 'linen shirt',
    terms: { linen: 1, shirt: 1 },
    termCount: 2,
    payload: { color: 'blue' },
    vector: new Float32Array([1, 0]),
    ...overrides,
  };
}

describe('version guard rules (LanceDB, Qdrant)', () => {
  it('an upsert wins over nothing, an older version, or the same version with other content', () => {
    const incoming = { version: 3, fingerprint: 'f' };
    assert.equal(upsertWins(undefined, incoming, false), true);
    assert.equal(upsertWins(live(2), incoming, false), true);
    assert.equal(upsertWins(tombstone(2), incoming, false), true);
    assert.equal(upsertWins(live(3, 'other'), incoming, false), true);
  });

  it('an upsert loses to a newer version, a redelivery of the same content, and a tombstone of its version', () => {
    const incoming = { version: 3, fingerprint: 'f' };
    assert.equal(upsertWins(live(4), incoming, false), false);
    assert.equal(upsertWins(tombstone(4), incoming, false), false);
    assert.equal(upsertWins(live(3, 'f'), incoming, false), false);
    assert.equal(upsertWins(tombstone(3), incoming, false), false, 'a delete wins a tie');
  });

  it('a repair (overwrite) writes whenever the stored record differs, newer or tombstone included', () => {
    const incoming = { version: 3, fingerprint: 'f' };
    assert.equal(upsertWins(live(9), incoming, true), true);
    assert.equal(upsertWins(tombstone(3), incoming, true), true);
    assert.equal(upsertWins(tombstone(9), incoming, true), true);
    assert.equal(upsertWins(live(3, 'other'), incoming, true), true);
    assert.equal(upsertWins(live(3, 'f'), incoming, true), false, 'already what the source says');
  });

  it('a delete tombstones a record at its version, or the stored one when it does not know it', () => {
    assert.deepEqual(deleteDecision(live(3), { tenant: 't1', version: 5 }), {
      outcome: 'applied',
      tombstone: { tenant: 't1', version: 5 },
    });
    assert.deepEqual(deleteDecision(live(3), { tenant: 't1', version: 3 }), {
      outcome: 'applied',
      tombstone: { tenant: 't1', version: 3 },
    });
    assert.deepEqual(deleteDecision(live(7, 'f', 't2'), { tenant: null, version: null }), {
      outcome: 'applied',
      tombstone: { tenant: 't2', version: 7 },
    });
    assert.deepEqual(deleteDecision(undefined, { tenant: 't1', version: 4 }), {
      outcome: 'applied',
      tombstone: { tenant: 't1', version: 4 },
    });
    assert.deepEqual(deleteDecision(undefined, { tenant: null, version: null }), {
      outcome: 'applied',
      tombstone: { tenant: '', version: 0 },
    });
  });

  it('a delete leaves a newer live record and another tenant’s record alone', () => {
    assert.deepEqual(deleteDecision(live(6), { tenant: 't1', version: 5 }), { outcome: 'skipped_stale' });
    assert.deepEqual(deleteDecision(live(3, 'f', 't2'), { tenant: 't1', version: 5 }), {
      outcome: 'skipped_stale',
    });
  });

  it('a delete already covered by a tombstone writes nothing; an older tombstone is moved up', () => {
    assert.deepEqual(deleteDecision(tombstone(5), { tenant: 't1', version: 5 }), {
      outcome: 'applied',
      tombstone: null,
    });
    assert.deepEqual(deleteDecision(tombstone(5), { tenant: null, version: null }), {
      outcome: 'applied',
      tombstone: null,
    });
    assert.deepEqual(deleteDecision(tombstone(2), { tenant: 't1', version: 5 }), {
      outcome: 'applied',
      tombstone: { tenant: 't1', version: 5 },
    });
  });

  it('the fingerprint changes with the tenant, the content, the payload and the terms, and with nothing else', () => {
    const base = recordFingerprint(document());
    assert.equal(
      recordFingerprint(document({ version: 9, text: 'ignored: the content hash covers it' })),
      base,
    );
    for (const changed of [
      document({ tenant: 't2' }),
      document({ contentHash: 'h2' }),
      document({ payload: { color: 'red' } }),
      document({ terms: { linen: 2, shirt: 1 } }),
    ])
      assert.notEqual(recordFingerprint(changed), base);
  });

  it('hits are ordered by score, equal scores by id; results follow the requests', () => {
    const hits = [
      { id: 'b', score: 0.5 },
      { id: 'c', score: 0.9 },
      { id: 'a', score: 0.5 },
    ].map((hit) => ({ ...hit, version: 1, payload: {} }));
    assert.deepEqual(
      hits.sort(byScoreThenId).map((hit) => hit.id),
      ['c', 'a', 'b'],
    );
    const outcomes = new Map([
      ['x', 'applied' as const],
      ['y', 'skipped_stale' as const],
    ]);
    assert.deepEqual(inRequestOrder([{ id: 'y' }, { id: 'x' }, { id: 'y' }], outcomes), [
      { id: 'y', outcome: 'skipped_stale' },
      { id: 'x', outcome: 'applied' },
      { id: 'y', outcome: 'skipped_stale' },
    ]);
  });
});
