import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { meanDirection } from '../../src/pipeline/embed-documents.js';
import type { EmbeddedChunk, EmbeddedDocument } from '../../src/pipeline/index-document.js';
import { parseFilter } from '../../src/search/filter.js';
import type { IndexSpec, StoredChunk, VectorStore } from '../../src/stores/vector-store.js';
import { DIMENSIONS, doc, type StoreHarness } from './store-contract.js';

/**
 * The chunk part of the store contract, for a chunked index version: after any sequence of
 * writes, a document's stored chunks are exactly those of its stored version (no ordinal left
 * over when it shrinks, none of another version), and semantic search answers documents by
 * their best chunk. A store without chunks declares it and the suite is skipped with the reason.
 */
export function chunkContract(
  name: string,
  open: () => Promise<StoreHarness>,
  options: { skip?: string } = {},
) {
  describe(`store contract, chunks: ${name}`, options.skip ? { skip: options.skip } : {}, () => {
    let harness: StoreHarness;
    let store: VectorStore;
    let spec: IndexSpec;

    before(async () => {
      harness = await open();
      store = harness.store;
      spec = {
        ...harness.spec,
        params: { ...harness.spec.params, chunking: { splitter: 'recursive', size: 100 } },
      };
      assert.ok(store.capabilities.chunks, 'the store declares chunks');
      await store.ensureIndex(spec);
      await store.ensureIndex(spec);
    });
    after(async () => {
      await store?.drop(spec).catch(() => undefined);
      await harness?.close();
    });

    /** A document of `count` chunks; each chunk's vector leans towards one axis. */
    const chunked = (input: {
      id: string;
      tenant: string;
      version: number;
      count: number;
      label?: string;
      payload?: Record<string, unknown>;
    }) => {
      const label = input.label ?? `v${input.version}`;
      const chunks: EmbeddedChunk[] = Array.from({ length: input.count }, (_, ordinal) => {
        const vector = new Float32Array(DIMENSIONS).fill(0.05);
        vector[ordinal % DIMENSIONS] = 1;
        return {
          ordinal,
          start: ordinal * 10,
          end: ordinal * 10 + 9,
          text: `${label} chunk ${ordinal}`,
          contentHash: `${label}-${ordinal}`,
          vector,
        };
      });
      const base = doc({
        id: input.id,
        tenant: input.tenant,
        version: input.version,
        payload: input.payload ?? {},
      });
      const document: EmbeddedDocument = {
        ...base,
        contentHash: `doc-${label}`,
        text: chunks.map((chunk) => chunk.text).join(' '),
        vector: meanDirection(chunks.map((chunk) => chunk.vector)),
        chunks,
      };
      return document;
    };
    const upsert = async (documents: EmbeddedDocument[], overwrite = false) => {
      await harness.beforeUpsert?.(documents.map((d) => d.id));
      return store.upsert(spec, documents, overwrite ? { overwrite: true } : undefined);
    };
    const stored = async (id: string): Promise<StoredChunk[]> =>
      (await store.readChunks!(spec, [id])).get(id) ?? [];
    const labels = async (id: string) => (await stored(id)).map((chunk) => `${chunk.ordinal}:${chunk.text}`);

    it('stores every chunk of a document, in order, with its offsets, tenant and hash', async () => {
      await upsert([chunked({ id: 'c1', tenant: 't-chunks', version: 1, count: 10 })]);
      const chunks = await stored('c1');
      assert.deepEqual(
        chunks.map((chunk) => [chunk.ordinal, chunk.start, chunk.end, chunk.tenant, chunk.contentHash]),
        Array.from({ length: 10 }, (_, i) => [i, i * 10, i * 10 + 9, 't-chunks', `v1-${i}`]),
      );
    });

    it('a document that shrinks from 10 chunks to 3 keeps 3; an older version never mixes in', async () => {
      await upsert([chunked({ id: 'c2', tenant: 't-chunks', version: 1, count: 10 })]);
      await upsert([chunked({ id: 'c2', tenant: 't-chunks', version: 2, count: 3 })]);
      assert.deepEqual(await labels('c2'), ['0:v2 chunk 0', '1:v2 chunk 1', '2:v2 chunk 2']);
      // Late, out of order, repeated: the stored version's chunks stay.
      const late = await upsert([chunked({ id: 'c2', tenant: 't-chunks', version: 1, count: 7 })]);
      assert.equal(late[0]!.outcome, 'skipped_stale');
      await upsert([chunked({ id: 'c2', tenant: 't-chunks', version: 2, count: 3 })]);
      assert.deepEqual(await labels('c2'), ['0:v2 chunk 0', '1:v2 chunk 1', '2:v2 chunk 2']);
      // The same version with other content (a redelivery after a related row changed) replaces them.
      await upsert([chunked({ id: 'c2', tenant: 't-chunks', version: 2, count: 2, label: 'v2b' })]);
      assert.deepEqual(await labels('c2'), ['0:v2b chunk 0', '1:v2b chunk 1']);
    });

    it('a delete removes the chunks, and a late upsert cannot bring them back', async () => {
      await upsert([chunked({ id: 'c3', tenant: 't-chunks', version: 4, count: 5 })]);
      await store.delete(spec, [{ tenant: 't-chunks', id: 'c3', version: 4 }]);
      assert.deepEqual(await stored('c3'), []);
      await upsert([chunked({ id: 'c3', tenant: 't-chunks', version: 3, count: 5 })]);
      assert.deepEqual(await stored('c3'), []);
    });

    it('a document moved to another tenant moves its chunks', async () => {
      await upsert([chunked({ id: 'c4', tenant: 't-old', version: 1, count: 4 })]);
      await upsert([chunked({ id: 'c4', tenant: 't-new', version: 2, count: 4 })]);
      assert.ok((await stored('c4')).every((chunk) => chunk.tenant === 't-new'));
      const old = await store.search(spec, { tenant: 't-old', vector: new Float32Array([1, 0, 0, 0]), k: 5 });
      assert.deepEqual(old, [], 'the old tenant finds nothing');
    });

    it('semantic search answers documents by their best chunk, with the chunks asked for', async () => {
      await upsert([
        chunked({ id: 's1', tenant: 't-search', version: 1, count: 4, payload: { color: 'red' } }),
        chunked({ id: 's2', tenant: 't-search', version: 1, count: 1, payload: { color: 'blue' } }),
      ]);
      const hits = await store.search(spec, {
        tenant: 't-search',
        vector: new Float32Array([0, 0, 1, 0]),
        k: 5,
        chunksPerHit: 2,
      });
      assert.deepEqual(
        hits.map((hit) => hit.id),
        ['s1', 's2'],
        'each document once, the one with a chunk on the axis first',
      );
      assert.equal(hits[0]!.chunks![0]!.ordinal, 2);
      assert.equal(hits[0]!.score, hits[0]!.chunks![0]!.score);
      assert.equal(hits[0]!.chunks!.length, 2);
      assert.equal(hits[1]!.chunks!.length, 1);
      const filtered = await store.search(spec, {
        tenant: 't-search',
        vector: new Float32Array([0, 0, 1, 0]),
        k: 5,
        filter: parseFilter({ color: 'blue' }, spec.payloadFields)!,
      });
      assert.deepEqual(
        filtered.map((hit) => hit.id),
        ['s2'],
        'filters apply to the chunks searched',
      );
    });

    it('truncate removes every chunk', async () => {
      await upsert([chunked({ id: 't1', tenant: 't-trunc', version: 1, count: 3 })]);
      await store.truncate(spec);
      assert.deepEqual(await stored('t1'), []);
    });
  });
}
