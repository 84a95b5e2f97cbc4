import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { PayloadField, PayloadFieldType } from '../../src/config/collection-definition.js';
import type { EmbeddedDocument } from '../../src/pipeline/index-document.js';
import { parseFilter } from '../../src/search/filter.js';
import { reciprocalRankFusion } from '../../src/search/fusion.js';
import { ID_BUCKETS, idBucket } from '../../src/stores/id-bucket.js';
import { BucketChecksumAccumulator } from '../../src/stores/record-checksum.js';
import type { IndexSpec, SearchHit, StoredRecordMeta, VectorStore } from '../../src/stores/vector-store.js';

/**
 * One contract every store provider passes (test/store-contract/*.test.ts drive it per store).
 * A store that lacks a capability declares it in its harness, and the affected test is
 * skipped with the declared reason printed, never silently.
 */
export interface StoreHarness {
  store: VectorStore;
  spec: IndexSpec;
  /** Makes source rows exist for stores that enforce a foreign key to the source. */
  beforeUpsert?(ids: readonly string[]): Promise<void>;
  close(): Promise<void>;
}

export interface DeclaredGaps {
  /** Why the store cannot apply k1/b per query (they are fixed by the store or at write time). */
  bm25ParametersPerQuery?: string;
  /** Why keyword statistics are not per tenant (one tenant's documents change another's scores). */
  perTenantKeywordStatistics?: string;
}

export const DIMENSIONS = 4;

const field = (name: string, type: PayloadFieldType): PayloadField => ({
  name,
  type,
  column: { name, type, baseType: type, nullable: true, hasDefault: false, isGenerated: false },
});

export const contractPayloadFields: PayloadField[] = [
  field('color', 'string'),
  field('price', 'number'),
  field('in_stock', 'boolean'),
  field('released', 'timestamp'),
  field('tags', 'string[]'),
  field('sizes', 'number[]'),
];

export function contractSpec(location: string, extra: Partial<IndexSpec> = {}): IndexSpec {
  return {
    indexId: 4242,
    collection: 'contract',
    location,
    dimensions: DIMENSIONS,
    metric: 'cosine',
    payloadFields: contractPayloadFields,
    params: {},
    ...extra,
  };
}

interface DocInput {
  id: string;
  tenant: string;
  version?: number;
  vector?: number[];
  terms?: Record<string, number>;
  payload?: Record<string, unknown>;
}

export function doc(input: DocInput): EmbeddedDocument {
  const version = input.version ?? 1;
  const terms = input.terms ?? {};
  return {
    collection: 'contract',
    tenant: input.tenant,
    id: input.id,
    version,
    contentHash: `hash-${input.id}-${version}`,
    text: input.id,
    keywords: Object.keys(terms).join(' '),
    terms,
    termCount: Object.values(terms).reduce((sum, tf) => sum + tf, 0),
    payload: {
      color: null,
      price: null,
      in_stock: null,
      released: null,
      tags: null,
      sizes: null,
      ...input.payload,
    },
    vector: new Float32Array(input.vector ?? [1, 0, 0, 0]),
  };
}

const ids = (hits: SearchHit[]) => hits.map((hit) => hit.id);

export function storeContract(
  name: string,
  open: () => Promise<StoreHarness>,
  gaps: DeclaredGaps = {},
  options: { skip?: string } = {},
): void {
  describe(`store contract: ${name}`, options.skip ? { skip: options.skip } : {}, () => {
    let harness: StoreHarness;
    let store: VectorStore;
    let spec: IndexSpec;

    before(async () => {
      harness = await open();
      store = harness.store;
      spec = harness.spec;
      await store.ensureIndex(spec);
      await store.ensureIndex(spec); // idempotent
    });
    after(async () => {
      await store?.drop(spec).catch(() => undefined);
      await harness?.close();
    });

    const upsert = async (docs: EmbeddedDocument[]) => {
      await harness.beforeUpsert?.(docs.map((d) => d.id));
      return store.upsert(spec, docs);
    };
    const dense = (tenant: string, vector: number[], k = 10, filter?: unknown) =>
      store.search(spec, {
        tenant,
        vector: new Float32Array(vector),
        k,
        ...(filter ? { filter: parseFilter(filter, spec.payloadFields)! } : {}),
      });
    const keyword = (tenant: string, terms: string[], k = 10, filter?: unknown) =>
      store.keywordSearch!(spec, {
        tenant,
        terms: terms.map((term) => ({ term, frequency: 1 })),
        k,
        bm25: { k1: 1.2, b: 0.75 },
        ...(filter ? { filter: parseFilter(filter, spec.payloadFields)! } : {}),
      });
    const scanAll = async (request: {
      tenant?: string;
      bucketFrom?: number;
      bucketTo?: number;
      limit?: number;
    }) => {
      const records: StoredRecordMeta[] = [];
      let cursor: string | undefined;
      for (let pages = 0; pages < 10_000; pages++) {
        const page = await store.scan(spec, {
          bucketFrom: request.bucketFrom ?? 0,
          bucketTo: request.bucketTo ?? ID_BUCKETS - 1,
          limit: request.limit ?? 1000,
          ...(request.tenant !== undefined ? { tenant: request.tenant } : {}),
          ...(cursor ? { cursor } : {}),
        });
        records.push(...page.records);
        if (page.cursor === null) return records;
        cursor = page.cursor;
      }
      throw new Error('scan did not end');
    };

    it('upserts, then reads back through search, count and scan', async () => {
      const results = await upsert([
        doc({ id: 'u1', tenant: 't-upsert', vector: [1, 0, 0, 0], payload: { color: 'red', price: 10 } }),
        doc({ id: 'u2', tenant: 't-upsert', vector: [0, 1, 0, 0], payload: { color: 'blue', price: 20 } }),
      ]);
      assert.deepEqual(results, [
        { id: 'u1', outcome: 'applied' },
        { id: 'u2', outcome: 'applied' },
      ]);
      assert.equal(await store.count(spec, 't-upsert'), 2);
      const hits = await dense('t-upsert', [1, 0, 0, 0]);
      assert.deepEqual(ids(hits), ['u1', 'u2']);
      assert.equal(hits[0]!.version, 1);
      assert.equal(hits[0]!.payload.color, 'red');
      assert.equal(hits[0]!.payload.price, 10);
      assert.ok(
        Math.abs(hits[0]!.score - 1) < 1e-5,
        `cosine similarity of identical vectors is 1 (got ${hits[0]!.score})`,
      );
      const scanned = await scanAll({ tenant: 't-upsert' });
      assert.deepEqual(
        scanned.sort((a, b) => (a.id < b.id ? -1 : 1)),
        [
          { tenant: 't-upsert', id: 'u1', version: 1, contentHash: 'hash-u1-1' },
          { tenant: 't-upsert', id: 'u2', version: 1, contentHash: 'hash-u2-1' },
        ],
      );
    });

    it('updates a record with a newer version: new vector, payload, version and hash', async () => {
      await upsert([doc({ id: 'm1', tenant: 't-update', vector: [1, 0, 0, 0], payload: { color: 'red' } })]);
      const results = await upsert([
        doc({ id: 'm1', tenant: 't-update', version: 2, vector: [0, 0, 1, 0], payload: { color: 'green' } }),
      ]);
      assert.deepEqual(results, [{ id: 'm1', outcome: 'applied' }]);
      const [hit] = await dense('t-update', [0, 0, 1, 0], 1);
      assert.equal(hit!.id, 'm1');
      assert.equal(hit!.version, 2);
      assert.equal(hit!.payload.color, 'green');
      assert.ok(hit!.score > 0.99);
      assert.equal(await store.count(spec, 't-update'), 1);
      assert.deepEqual(await scanAll({ tenant: 't-update' }), [
        { tenant: 't-update', id: 'm1', version: 2, contentHash: 'hash-m1-2' },
      ]);
    });

    it('deletes: the record leaves search, keyword search, count and scan', async () => {
      await upsert([
        doc({ id: 'd1', tenant: 't-delete', terms: { gone: 1 } }),
        doc({ id: 'd2', tenant: 't-delete', terms: { gone: 1 } }),
      ]);
      assert.deepEqual(await store.delete(spec, [{ tenant: 't-delete', id: 'd1', version: 1 }]), [
        { id: 'd1', outcome: 'applied' },
      ]);
      assert.deepEqual(ids(await dense('t-delete', [1, 0, 0, 0])), ['d2']);
      assert.deepEqual(ids(await keyword('t-delete', ['gone'])), ['d2']);
      assert.equal(await store.count(spec, 't-delete'), 1);
      assert.deepEqual(
        (await scanAll({ tenant: 't-delete' })).map((record) => record.id),
        ['d2'],
      );
      // A delete without a tenant (CDC with the default replica identity) finds the record.
      assert.deepEqual(await store.delete(spec, [{ tenant: null, id: 'd2', version: null }]), [
        { id: 'd2', outcome: 'applied' },
      ]);
      assert.equal(await store.count(spec, 't-delete'), 0);
    });

    it('version guard: out-of-order and repeated applies converge to the newest version', async () => {
      const t = 't-guard';
      assert.deepEqual(await upsert([doc({ id: 'g1', tenant: t, version: 2 })]), [
        { id: 'g1', outcome: 'applied' },
      ]);
      assert.deepEqual(await upsert([doc({ id: 'g1', tenant: t, version: 1 })]), [
        { id: 'g1', outcome: 'skipped_stale' },
      ]);
      assert.deepEqual(
        await upsert([doc({ id: 'g1', tenant: t, version: 2 })]),
        [{ id: 'g1', outcome: 'skipped_stale' }],
        'a redelivered version writes nothing',
      );
      assert.equal((await dense(t, [1, 0, 0, 0]))[0]!.version, 2);

      // A delete leaves a tombstone: a late upsert of an older or equal version cannot resurrect it.
      await upsert([doc({ id: 'g2', tenant: t, version: 5 })]);
      assert.deepEqual(await store.delete(spec, [{ tenant: t, id: 'g2', version: 6 }]), [
        { id: 'g2', outcome: 'applied' },
      ]);
      assert.deepEqual(await upsert([doc({ id: 'g2', tenant: t, version: 5 })]), [
        { id: 'g2', outcome: 'skipped_stale' },
      ]);
      assert.deepEqual(
        await upsert([doc({ id: 'g2', tenant: t, version: 6 })]),
        [{ id: 'g2', outcome: 'skipped_stale' }],
        'a delete wins a tie',
      );
      assert.ok(!ids(await dense(t, [1, 0, 0, 0], 10)).includes('g2'));
      assert.deepEqual(await upsert([doc({ id: 'g2', tenant: t, version: 7 })]), [
        { id: 'g2', outcome: 'applied' },
      ]);
      assert.ok(ids(await dense(t, [1, 0, 0, 0], 10)).includes('g2'));

      // A delete that arrives before the insert it follows still wins.
      assert.deepEqual(await store.delete(spec, [{ tenant: t, id: 'g3', version: 4 }]), [
        { id: 'g3', outcome: 'applied' },
      ]);
      assert.deepEqual(await upsert([doc({ id: 'g3', tenant: t, version: 3 })]), [
        { id: 'g3', outcome: 'skipped_stale' },
      ]);

      // A delete older than the stored record is ignored.
      await upsert([doc({ id: 'g4', tenant: t, version: 9 })]);
      assert.deepEqual(await store.delete(spec, [{ tenant: t, id: 'g4', version: 8 }]), [
        { id: 'g4', outcome: 'skipped_stale' },
      ]);
      assert.ok(ids(await dense(t, [1, 0, 0, 0], 10)).includes('g4'));

      // Within one batch, the newest of several versions of one id wins.
      await upsert([doc({ id: 'g5', tenant: t, version: 3 }), doc({ id: 'g5', tenant: t, version: 2 })]);
      assert.deepEqual(
        (await scanAll({ tenant: t })).filter((r) => r.id === 'g5').map((r) => r.version),
        [3],
      );
      assert.equal(
        await store.count(spec, t),
        4,
        'g1, g2, g4 and g5 are live; the tombstone of g3 is not counted',
      );
    });

    it('keeps tenants apart on every read and on deletes', async () => {
      await upsert([
        doc({ id: 'ta1', tenant: 'tenant-a', terms: { secret: 1 }, payload: { color: 'red' } }),
        doc({ id: 'tb1', tenant: 'tenant-b', terms: { secret: 1 }, payload: { color: 'red' } }),
      ]);
      assert.deepEqual(ids(await dense('tenant-a', [1, 0, 0, 0])), ['ta1']);
      assert.deepEqual(ids(await dense('tenant-b', [1, 0, 0, 0], 10, { color: 'red' })), ['tb1']);
      assert.deepEqual(ids(await keyword('tenant-a', ['secret'])), ['ta1']);
      assert.deepEqual(ids(await dense('tenant-c', [1, 0, 0, 0])), []);
      assert.equal(await store.count(spec, 'tenant-a'), 1);
      assert.deepEqual(
        (await scanAll({ tenant: 'tenant-b' })).map((record) => record.id),
        ['tb1'],
      );
      // A delete naming another tenant does not touch the record.
      await store.delete(spec, [{ tenant: 'tenant-b', id: 'ta1', version: 99 }]);
      assert.deepEqual(ids(await dense('tenant-a', [1, 0, 0, 0])), ['ta1']);
    });

    describe('filters, each operator, applied inside the search', () => {
      const t = 't-filter';
      const corpus = [
        {
          id: 'f1',
          payload: {
            color: 'red',
            price: 10,
            in_stock: true,
            released: '2024-01-01T00:00:00.000Z',
            tags: ['summer', 'sale'],
            sizes: [36, 38],
          },
        },
        {
          id: 'f2',
          payload: {
            color: 'blue',
            price: 20.5,
            in_stock: false,
            released: '2024-06-01T00:00:00.000Z',
            tags: ['winter'],
            sizes: [40],
          },
        },
        {
          id: 'f3',
          payload: {
            color: 'green',
            price: 30,
            in_stock: true,
            released: '2025-01-01T00:00:00.000Z',
            tags: [],
          },
        },
        { id: 'f4', payload: {} },
      ];
      before(async () => {
        await upsert(
          corpus.map((entry, index) =>
            doc({
              id: entry.id,
              tenant: t,
              payload: entry.payload,
              vector: [1, index / 10, 0, 0],
              terms: { item: 1 },
            }),
          ),
        );
        // The same payloads in another tenant must never leak into these results.
        await upsert(
          corpus.map((entry) =>
            doc({ id: `x${entry.id}`, tenant: 't-filter-other', payload: entry.payload }),
          ),
        );
      });
      const cases: Array<[string, unknown, string[]]> = [
        ['eq', { color: 'red' }, ['f1']],
        ['ne (a record without the field matches)', { color: { ne: 'red' } }, ['f2', 'f3', 'f4']],
        ['in', { color: { in: ['red', 'green'] } }, ['f1', 'f3']],
        ['gt', { price: { gt: 10 } }, ['f2', 'f3']],
        ['gte', { price: { gte: 20.5 } }, ['f2', 'f3']],
        ['lt', { price: { lt: 20.5 } }, ['f1']],
        ['lte', { price: { lte: 20.5 } }, ['f1', 'f2']],
        ['number eq', { price: 20.5 }, ['f2']],
        ['number in', { price: { in: [10, 30] } }, ['f1', 'f3']],
        ['boolean', { in_stock: true }, ['f1', 'f3']],
        [
          'timestamp range',
          { released: { gte: '2024-03-01T00:00:00Z', lt: '2025-01-01T00:00:00Z' } },
          ['f2'],
        ],
        ['timestamp eq', { released: '2025-01-01T00:00:00Z' }, ['f3']],
        ['exists true', { released: { exists: true } }, ['f1', 'f2', 'f3']],
        ['exists false', { released: { exists: false } }, ['f4']],
        ['array contains', { tags: 'winter' }, ['f2']],
        ['array in', { tags: { in: ['sale', 'winter'] } }, ['f1', 'f2']],
        ['number array contains', { sizes: 38 }, ['f1']],
        ['and', { and: [{ in_stock: true }, { price: { gt: 15 } }] }, ['f3']],
        ['or', { or: [{ color: 'red' }, { price: { gt: 25 } }] }, ['f1', 'f3']],
        ['not', { not: { color: 'red' } }, ['f2', 'f3', 'f4']],
      ];
      for (const [label, filter, expected] of cases) {
        it(label, async () => {
          assert.deepEqual(ids(await dense(t, [1, 0, 0, 0], 10, filter)).sort(), expected);
          assert.deepEqual(
            ids(await keyword(t, ['item'], 10, filter)).sort(),
            expected,
            'keyword search filters too',
          );
        });
      }
      it('a selective filter still returns k results (prefiltering, not post-filtering)', async () => {
        const many = Array.from({ length: 60 }, (_, i) =>
          doc({
            id: `p${String(i).padStart(2, '0')}`,
            tenant: 't-prefilter',
            vector: [1, (i % 7) / 7, 0, 0],
            payload: { color: i % 20 === 0 ? 'rare' : 'common' },
          }),
        );
        await upsert(many);
        assert.deepEqual(ids(await dense('t-prefilter', [1, 0, 0, 0], 3, { color: 'rare' })).sort(), [
          'p00',
          'p20',
          'p40',
        ]);
      });
    });

    describe('ordering on a fixed corpus', () => {
      const t = 't-order';
      before(async () => {
        await upsert([
          doc({ id: 'o1', tenant: t, vector: [1, 0, 0, 0], terms: { red: 1, shirt: 3 } }),
          doc({ id: 'o2', tenant: t, vector: [0.8, 0.6, 0, 0], terms: { red: 1, shirt: 1, cotton: 2 } }),
          doc({ id: 'o3', tenant: t, vector: [0.6, 0.8, 0, 0], terms: { blue: 1, jean: 3 } }),
          doc({ id: 'o4', tenant: t, vector: [0, 1, 0, 0], terms: { red: 4 } }),
        ]);
      });
      it('dense: by cosine similarity, closest first', async () => {
        const hits = await dense(t, [1, 0, 0, 0]);
        assert.deepEqual(ids(hits), ['o1', 'o2', 'o3', 'o4']);
        assert.ok(Math.abs(hits[1]!.score - 0.8) < 1e-4, `o2 similarity 0.8 (got ${hits[1]!.score})`);
      });
      it('keyword: BM25, higher term frequency first, no match no hit', async () => {
        assert.deepEqual(ids(await keyword(t, ['shirt'])), ['o1', 'o2']);
        assert.deepEqual(ids(await keyword(t, ['jean'])), ['o3']);
        assert.deepEqual(ids(await keyword(t, ['nothing'])), []);
      });
      it('hybrid: documents both signals rank high come first', async () => {
        let fused: string[];
        if (store.capabilities.nativeHybrid && store.hybridSearch) {
          fused = ids(
            await store.hybridSearch(spec, {
              tenant: t,
              vector: new Float32Array([0.9, 0.1, 0, 0]),
              terms: [{ term: 'shirt', frequency: 1 }],
              candidates: 10,
              k: 10,
            }),
          );
        } else {
          const signals = [
            { name: 'semantic' as const, weight: 1, hits: await dense(t, [0.9, 0.1, 0, 0]) },
            { name: 'keyword' as const, weight: 1, hits: await keyword(t, ['shirt']) },
          ];
          fused = reciprocalRankFusion(signals, 60).map((hit) => hit.id);
        }
        assert.deepEqual(fused.slice(0, 2), ['o1', 'o2']);
        assert.deepEqual(new Set(fused), new Set(['o1', 'o2', 'o3', 'o4']));
      });
      it('keyword: k1 and b given per query change the scores', (t) => {
        if (gaps.bm25ParametersPerQuery) return t.skip(`${name} declares: ${gaps.bm25ParametersPerQuery}`);
        return (async () => {
          const request = (k1: number) =>
            store.keywordSearch!(spec, {
              tenant: 't-order',
              terms: [{ term: 'shirt', frequency: 1 }],
              k: 10,
              bm25: { k1, b: 0.75 },
            });
          const low = await request(0.5);
          const high = await request(2);
          assert.notEqual(low[0]!.score, high[0]!.score);
        })();
      });
      it('keyword: one tenant’s documents do not change another tenant’s scores', (t) => {
        if (gaps.perTenantKeywordStatistics)
          return t.skip(`${name} declares: ${gaps.perTenantKeywordStatistics}`);
        return (async () => {
          const before = await keyword('t-order', ['shirt']);
          await upsert(
            Array.from({ length: 5 }, (_, i) =>
              doc({ id: `noise${i}`, tenant: 't-noise', terms: { shirt: 1, long: 5 } }),
            ),
          );
          assert.deepEqual(await keyword('t-order', ['shirt']), before);
        })();
      });
    });

    it('scan: every live record exactly once across pages and bucket ranges; checksums agree', async () => {
      const t = 't-scan';
      const docs = Array.from({ length: 240 }, (_, i) =>
        doc({ id: `s${i}`, tenant: t, version: (i % 5) + 1 }),
      );
      await upsert(docs);
      await store.delete(spec, [{ tenant: t, id: 's0', version: 99 }]);
      const expected = new Map(docs.filter((d) => d.id !== 's0').map((d) => [d.id, d]));
      const scanned = await scanAll({ tenant: t, limit: 7 });
      assert.equal(scanned.length, expected.size, 'no duplicates, nothing missing, no tombstone');
      for (const record of scanned) {
        const source = expected.get(record.id);
        assert.ok(source, `unexpected ${record.id}`);
        assert.equal(record.version, source.version);
        assert.equal(record.contentHash, source.contentHash);
      }
      const from = 20_000;
      const to = 40_000;
      const ranged = await scanAll({ tenant: t, bucketFrom: from, bucketTo: to, limit: 5 });
      const inRange = [...expected.keys()].filter((id) => idBucket(id) >= from && idBucket(id) <= to);
      assert.deepEqual(ranged.map((r) => r.id).sort(), inRange.sort());
      if (store.bucketChecksums) {
        const accumulator = new BucketChecksumAccumulator(8);
        for (const d of expected.values()) accumulator.add(idBucket(d.id), d);
        assert.deepEqual(
          await store.bucketChecksums(spec, { tenant: t, bucketBits: 8 }),
          accumulator.result(),
        );
      }
    });

    it('answers empty results without errors', async () => {
      assert.deepEqual(await dense('t-nobody', [1, 0, 0, 0]), []);
      assert.deepEqual(await keyword('t-nobody', ['anything']), []);
      assert.deepEqual(
        await store.keywordSearch!(spec, { tenant: 't-nobody', terms: [], k: 5, bm25: { k1: 1.2, b: 0.75 } }),
        [],
      );
      assert.equal(await store.count(spec, 't-nobody'), 0);
      assert.deepEqual(
        await store.scan(spec, { bucketFrom: 0, bucketTo: ID_BUCKETS - 1, tenant: 't-nobody', limit: 10 }),
        {
          records: [],
          cursor: null,
        },
      );
    });

    it('rejects a vector of the wrong dimension, naming it, and still writes the rest', async () => {
      const bad = doc({ id: 'dim-bad', tenant: 't-dim' });
      bad.vector = new Float32Array(DIMENSIONS + 1);
      const results = await upsert([bad, doc({ id: 'dim-ok', tenant: 't-dim' })]);
      assert.equal(results[0]!.outcome, 'failed');
      assert.equal(results[0]!.error?.code, 'DIMENSION_MISMATCH');
      assert.match(results[0]!.error!.message, /dim-bad/);
      assert.deepEqual(results[1], { id: 'dim-ok', outcome: 'applied' });
      await assert.rejects(
        store.search(spec, { tenant: 't-dim', vector: new Float32Array(DIMENSIONS + 2), k: 3 }),
        (error: { code?: string }) => error.code === 'DIMENSION_MISMATCH',
      );
    });

    it('truncate empties the index', async () => {
      await upsert([doc({ id: 'z1', tenant: 't-trunc' })]);
      await store.truncate(spec);
      assert.equal(await store.count(spec), 0);
      assert.deepEqual(await dense('t-trunc', [1, 0, 0, 0]), []);
    });

    it('answers ping', async () => {
      await store.ping();
    });
  });
}
