import { splitText } from '../../src/chunking/text-splitter.js';
import { parseConfig, type ResolvedConfig } from '../../src/config/resolve-config.js';
import { parseTextTemplate } from '../../src/config/text-template.js';
import type { SqlExecutor } from '../../src/db/database.js';
import type { VectorsyncRuntime } from '../../src/runtime/vectorsync-runtime.js';
import type { StoredChunk } from '../../src/stores/vector-store.js';
import { fastSync } from './products-fixture.js';
import type { TestDatabase } from './test-environment.js';

/** Long markdown articles, chunked by section: the shape of manuals and support articles. */
export const articlesTableSql = `CREATE TABLE articles (
  id int PRIMARY KEY, tenant_id text NOT NULL, title text NOT NULL, body text NOT NULL, version bigint NOT NULL DEFAULT 0)`;

export const ARTICLES_TEMPLATE = '# {{title}}\n\n{{body}}';
export const ARTICLE_CHUNKING = { splitter: 'markdown' as const, size: 120, overlap: 0 };

export function articlesConfig(
  testDb: TestDatabase,
  options: {
    mode?: 'outbox' | 'cdc' | 'dual-write';
    stores?: Record<string, unknown>;
    store?: string;
    /** An OpenAI-compatible endpoint (a fake that counts inputs) instead of the hash embedder. */
    embeddingsUrl?: string;
  } = {},
): ResolvedConfig {
  return parseConfig({
    databaseUrl: testDb.url,
    embedders: {
      default: options.embeddingsUrl
        ? {
            provider: 'openai',
            model: 'fake',
            dimensions: 32,
            baseUrl: options.embeddingsUrl,
            apiKeyEnv: 'NO_KEY',
          }
        : { provider: 'hash', dimensions: 32 },
    },
    stores: (options.stores ?? { main: { provider: 'pgvector' } }) as never,
    sync: { ...fastSync, dualWriteTimeoutMs: 10_000 },
    cdc: {
      slot: `vs_${testDb.name}`.slice(0, 63),
      batchDelayMs: 5,
      statusIntervalMs: 500,
      reconnectMaxMs: 500,
    },
    collections: {
      articles: {
        table: 'public.articles',
        primaryKey: 'id',
        tenantColumn: 'tenant_id',
        versionColumn: 'version',
        manageVersion: true,
        text: ARTICLES_TEMPLATE,
        keywordFields: ['title', 'body'],
        payloadFields: ['title'],
        chunking: ARTICLE_CHUNKING,
        store: options.store ?? 'main',
        embedder: 'default',
        sync: { mode: options.mode ?? 'outbox', bus: false },
      },
    },
  });
}

const topics = ['glaciers', 'volcanoes', 'rivers', 'deserts', 'forests', 'reefs', 'tundra', 'caves'];

/** An article of `sections` sections, each a heading and two paragraphs about its topic. */
export function articleBody(id: number, sections: number, edit = ''): string {
  const parts: string[] = [];
  for (let section = 0; section < sections; section++) {
    const topic = topics[(id + section) % topics.length]!;
    parts.push(
      `## Section ${section + 1}: ${topic}`,
      `Paragraph one of section ${section + 1} in article ${id} explains how ${topic} form over long periods.${section === 0 ? edit : ''}`,
      `Paragraph two adds field notes on ${topic}, measured by survey team ${id % 5}.`,
    );
  }
  return parts.join('\n\n');
}

export async function createArticles(db: SqlExecutor, ids: readonly number[], sections = 5, tenant = 'acme') {
  await db.query(
    `INSERT INTO articles (id, tenant_id, title, body) SELECT * FROM unnest($1::int[], $2::text[], $3::text[], $4::text[])`,
    [
      ids,
      ids.map(() => tenant),
      ids.map((id) => `Article ${id}`),
      ids.map((id) => articleBody(id, sections)),
    ],
  );
}

/** The chunks a document must have: split here from the source row, outside the pipeline. */
export async function expectedArticleChunks(
  db: SqlExecutor,
): Promise<Map<string, Array<Pick<StoredChunk, 'ordinal' | 'start' | 'end' | 'text' | 'tenant'>>>> {
  const template = parseTextTemplate(ARTICLES_TEMPLATE);
  const rows = await db.query<{ id: number; tenant_id: string; title: string; body: string }>(
    'SELECT * FROM articles',
  );
  const expected = new Map<
    string,
    Array<Pick<StoredChunk, 'ordinal' | 'start' | 'end' | 'text' | 'tenant'>>
  >();
  for (const row of rows.rows) {
    const text = template.renderLines({ title: row.title, body: row.body });
    expected.set(
      String(row.id),
      splitText(text, ARTICLE_CHUNKING).map((chunk, ordinal) => ({
        ordinal,
        start: chunk.start,
        end: chunk.end,
        text: chunk.text,
        tenant: row.tenant_id,
      })),
    );
  }
  return expected;
}

/** How the stored chunks differ from what the source says they must be, or undefined. */
export async function chunkDrift(
  runtime: VectorsyncRuntime,
  db: SqlExecutor,
  deletedIds: readonly string[] = [],
): Promise<string | undefined> {
  const target = runtime.activeTarget('articles');
  const expected = await expectedArticleChunks(db);
  const ids = [...expected.keys()];
  const probe = [...ids, ...deletedIds];
  const stored = await target.store.readChunks!(target.spec, probe);
  const problems: string[] = [];
  for (const [id, chunks] of expected) {
    const have = (stored.get(id) ?? []).map(({ ordinal, start, end, text, tenant }) => ({
      ordinal,
      start,
      end,
      text,
      tenant,
    }));
    if (JSON.stringify(have) !== JSON.stringify(chunks))
      problems.push(`${id}: stored ${have.length} chunks, expected ${chunks.length}`);
  }
  for (const id of stored.keys()) if (!expected.has(id)) problems.push(`${id}: chunks of a deleted article`);
  return problems.length > 0 ? problems.slice(0, 10).join('\n') : undefined;
}
