import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { silentLogger } from '../src/logger.js';
import { VectorsyncRuntime } from '../src/runtime/vectorsync-runtime.js';
import { SearchService } from '../src/search/search-service.js';
import { DocumentWriter } from '../src/sync/document-writer.js';
import { DualWriter } from '../src/sync/dual-writer.js';
import { setupCollections } from '../src/sync/setup-collections.js';
import { SyncWorkers } from '../src/sync/sync-workers.js';
import {
  articleBody,
  articlesConfig,
  articlesTableSql,
  chunkDrift,
  createArticles,
} from './helpers/articles-fixture.js';
import { FakeEmbeddingServer } from './helpers/fake-embedding-server.js';
import { createTestDatabase, type TestDatabase } from './helpers/test-environment.js';
import { waitFor } from './helpers/wait-for.js';

/**
 * A chunked articles collection in every sync mode: after idle, each document's stored chunks
 * are exactly those of its current text (checked against chunks split here from the source),
 * through inserts, edits, shrinking, deletes and bulk changes.
 */
const cases = [
  { mode: 'outbox', store: 'pgvector' },
  { mode: 'cdc', store: 'pgvector' },
  { mode: 'dual-write', store: 'pgvector' },
  { mode: 'outbox', store: 'lancedb' },
] as const;

for (const { mode, store } of cases) {
  describe(`chunked collection, ${mode} mode, ${store}`, () => {
    let testDb: TestDatabase;
    let runtime: VectorsyncRuntime;
    let workers: SyncWorkers;
    // Outbox mode embeds through an OpenAI-compatible fake, which counts what it is sent.
    const embeddings = new FakeEmbeddingServer({ dimensions: 32 });
    const deleted: string[] = [];
    let dataDir: string;
    const converged = () =>
      waitFor(async () => (await chunkDrift(runtime, testDb.db, deleted)) === undefined, {
        message: async () =>
          `stored chunks to equal the source's: ${await chunkDrift(runtime, testDb.db, deleted)}`,
      });
    /** Writes an article's body the way the mode captures it (the documents API for dual-write). */
    const writeBody = async (id: number, body: string) => {
      if (mode !== 'dual-write') {
        await testDb.db.query('UPDATE articles SET body = $2 WHERE id = $1', [id, body]);
        return;
      }
      const writer = new DocumentWriter(runtime.db);
      const dual = new DualWriter(runtime, silentLogger);
      const written = await writer.update(
        runtime.collection('articles').definition,
        'acme',
        String(id),
        { body },
        'patch',
        dual.capture,
      );
      await dual.afterWrite(written.change!, written.captured!, `edit-${id}`);
    };

    before(async () => {
      testDb = await createTestDatabase(`chunks_${mode.replace('-', '_')}_${store}`);
      dataDir = await mkdtemp(join(tmpdir(), 'vectorsync-chunks-'));
      await testDb.db.query(articlesTableSql);
      await createArticles(testDb.db, [1, 2, 3, 4, 5, 6], 5);
      const embeddingsUrl = mode === 'outbox' ? await embeddings.start() : undefined;
      runtime = await VectorsyncRuntime.open({
        config: articlesConfig(testDb, {
          mode,
          ...(embeddingsUrl ? { embeddingsUrl } : {}),
          ...(store === 'lancedb' ? { stores: { main: { provider: 'lancedb', dataDir } } } : {}),
        }),
        db: testDb.connect({ applicationName: 'vectorsync-runtime' }),
        logger: silentLogger,
      });
      await setupCollections(runtime);
      workers = new SyncWorkers(runtime, silentLogger);
      await workers.start();
    });
    after(async () => {
      await workers?.stop();
      await runtime?.close();
      await testDb?.drop();
      if (mode === 'outbox') await embeddings.stop();
      await rm(dataDir, { recursive: true, force: true });
    });

    it('backfills every article as its chunks', async () => {
      await converged();
      const target = runtime.activeTarget('articles');
      const stored = await target.store.readChunks!(target.spec, ['1']);
      assert.ok(
        (stored.get('1')?.length ?? 0) >= 10,
        `a five-section article: ${stored.get('1')?.length} chunks`,
      );
      assert.ok(
        stored.get('1')!.some((chunk) => chunk.context === 'Article 1'),
        'later chunks carry their heading path',
      );
    });

    it('a shrinking document keeps no leftover chunks; a growing one gains them', async () => {
      await writeBody(2, articleBody(2, 1));
      await writeBody(3, articleBody(3, 8));
      await converged();
      const target = runtime.activeTarget('articles');
      const stored = await target.store.readChunks!(target.spec, ['2', '3']);
      assert.ok(stored.get('2')!.length <= 3, `article 2 shrank to ${stored.get('2')!.length} chunks`);
      assert.deepEqual(
        stored.get('2')!.map((chunk) => chunk.ordinal),
        stored.get('2')!.map((_, index) => index),
      );
    });

    if (mode === 'outbox') {
      it('an edit of one paragraph re-embeds only the chunk that changed', async () => {
        await converged();
        const target = runtime.activeTarget('articles');
        const hashes = async () =>
          (await target.store.readChunks!(target.spec, ['4'])).get('4')!.map((c) => c.contentHash);
        const before = await hashes();
        const sent = embeddings.requests.flatMap((request) => request.input).length;
        // One word of one paragraph, in the middle of the article.
        await writeBody(
          4,
          articleBody(4, 5).replace('Paragraph one of section 3', 'Paragraph uno of section 3'),
        );
        await converged();
        const afterEdit = await hashes();
        assert.ok(before.length >= 10, `a long article: ${before.length} chunks`);
        assert.equal(afterEdit.length, before.length);
        const changed = afterEdit.filter((hash, index) => hash !== before[index]);
        assert.equal(changed.length, 1, `one chunk changed, not ${changed.length}`);
        const inputs = embeddings.requests.flatMap((request) => request.input).slice(sent);
        assert.equal(inputs.length, 1, `the embedder was sent ${inputs.length} texts for one changed chunk`);
        assert.match(inputs[0]!, /Paragraph uno of section 3/);
      });

      it('bulk statements, deletes and many concurrent edits converge', async () => {
        await testDb.db.query(`UPDATE articles SET body = body || '\n\nA closing note.' WHERE id IN (5, 6)`);
        await testDb.db.query('DELETE FROM articles WHERE id = 1');
        deleted.push('1');
        await Promise.all(
          Array.from({ length: 12 }, (_, round) => writeBody(5, articleBody(5, 1 + (round % 6)))),
        );
        await converged();
      });
    }

    it('searches return documents with their matching chunk', async () => {
      await converged();
      // LanceDB 0.30's full-text index can miss rows written since its last optimize (the
      // workers run it every heartbeat; docs/stores.md#lancedb): fold them in first.
      if (store === 'lancedb') {
        const target = runtime.activeTarget('articles');
        await target.store.maintain!(target.spec);
      }
      const search = new SearchService(runtime);
      const semantic = await search.search({
        collection: 'articles',
        tenant: 'acme',
        query: 'field notes on glaciers measured by survey team',
        mode: 'semantic',
        k: 3,
        chunks: 2,
        explain: true,
      });
      assert.equal(
        new Set(semantic.hits.map((hit) => hit.id)).size,
        semantic.hits.length,
        'documents, not chunks',
      );
      for (const hit of semantic.hits) {
        assert.ok(hit.chunks && hit.chunks.length >= 1 && hit.chunks.length <= 2);
        assert.ok(hit.chunks[0]!.score >= (hit.chunks[1]?.score ?? -1), 'best chunk first');
        assert.equal(hit.score, hit.chunks[0]!.score, "a document scores its best chunk's similarity");
        assert.equal(hit.explain?.chunk, hit.chunks[0]!.ordinal);
      }
      const keyword = await search.search({
        collection: 'articles',
        tenant: 'acme',
        query: 'volcanoes',
        mode: 'keyword',
        k: 5,
      });
      assert.ok(keyword.hits.length > 0);
      for (const hit of keyword.hits)
        assert.match(hit.chunks![0]!.text, /volcanoes/i, 'the snippet is a chunk where the term occurs');
      const hybrid = await search.search({
        collection: 'articles',
        tenant: 'acme',
        query: 'caves',
        mode: 'hybrid',
        k: 5,
      });
      assert.ok(hybrid.hits.every((hit) => hit.chunks && hit.chunks.length === 1));
      const other = await search.search({
        collection: 'articles',
        tenant: 'globex',
        query: 'caves',
        mode: 'hybrid',
        k: 5,
      });
      assert.equal(other.hits.length, 0, 'another tenant sees none of it');
    });
  });
}
