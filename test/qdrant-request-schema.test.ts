import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import ts from 'typescript';
import { parseConfig } from '../src/config/resolve-config.js';
import type { EmbeddedDocument } from '../src/pipeline/index-document.js';
import { parseFilter } from '../src/search/filter.js';
import type { QdrantStoreConfig } from '../src/stores/qdrant/qdrant-config.js';
import { compileQdrantFilter } from '../src/stores/qdrant/qdrant-filter.js';
import {
  conditionalUpsertBody,
  countBody,
  createCollectionBody,
  denseQueryBody,
  documentPoint,
  hybridQueryBody,
  indexParams,
  liveFilter,
  payloadIndexBodies,
  plainUpsertBody,
  pointsOfIdsBody,
  retrieveBody,
  scanScrollBody,
  sparseQueryBody,
  tombstonePoint,
  truncateBody,
} from '../src/stores/qdrant/qdrant-requests.js';
import { contractSpec } from './store-contract/store-contract.js';

/**
 * Qdrant cannot run here, so every request body the provider builds is checked against
 * Qdrant's documented schema: the OpenAPI schema of Qdrant 1.18 as shipped, converted to
 * TypeScript by openapi-typescript, in @qdrant/js-client-rest@1.18.0
 * (dist/types/openapi/generated_schema.d.ts). The bodies are serialised to JSON (what goes
 * on the wire) and type-checked as object literals, so unknown keys, wrong enum values and
 * wrong shapes are all errors. A malformed body is checked too, to prove the check can fail.
 */
const require = createRequire(import.meta.url);
// The package exports no subpaths: find its root from its main entry (dist/cjs/index.js).
const schemaFile = join(
  dirname(require.resolve('@qdrant/js-client-rest')),
  '../types/openapi/generated_schema.d.ts',
);

const config = parseConfig({
  embedders: {},
  collections: {},
  stores: { q: { provider: 'qdrant', url: 'http://127.0.0.1:6333', hybrid: 'native' } },
}).stores.q as QdrantStoreConfig;
const spec = contractSpec('idx_products_7');

const document: EmbeddedDocument = {
  collection: 'contract',
  tenant: 'acme',
  id: 'sku-1',
  version: 42,
  contentHash: 'abc',
  text: 'red shirt',
  keywords: 'red shirt',
  terms: { red: 1, shirt: 2 },
  termCount: 3,
  payload: {
    color: 'red',
    price: 12.5,
    in_stock: true,
    released: '2024-01-01T00:00:00.000Z',
    tags: ['a'],
    sizes: [38],
  },
  vector: new Float32Array([0.5, 0.5, 0.5, 0.5]),
};

const everyOperator = parseFilter(
  {
    and: [
      { color: 'red' },
      { color: { ne: 'blue', in: ['red', 'green'] } },
      { price: { gt: 1, gte: 1, lt: 100, lte: 100 } },
      { price: { in: [12.5, 13] } },
      { in_stock: true },
      { released: { gte: '2024-01-01T00:00:00Z' } },
      { released: '2024-01-01T00:00:00Z' },
      { released: { exists: true } },
      { tags: 'a' },
      { sizes: 38 },
      { or: [{ color: 'red' }, { not: { price: 3 } }] },
      { tags: { exists: false } },
    ],
  },
  spec.payloadFields,
)!;

/** The wire form: what the client serialises, without `wait` (a query parameter). */
function wire(body: object): string {
  const { wait: _, ...rest } = body as Record<string, unknown>;
  return JSON.stringify(rest, null, 2);
}

const sparse = { indices: [1, 7], values: [1, 2] };
const filter = liveFilter('acme', compileQdrantFilter(everyOperator));
const point = documentPoint(spec, document, indexParams(spec, config), 'fp');
const tombstone = tombstonePoint(spec, 'acme', 'sku-1', 43);

const bodies: Array<[string, string, string]> = [
  ['create collection', 'CreateCollection', wire(createCollectionBody(spec, config))],
  ...payloadIndexBodies(spec).map((body, index): [string, string, string] => [
    `payload index ${index}`,
    'CreateFieldIndex',
    wire(body),
  ]),
  [
    'conditional upsert',
    'PointsList',
    wire(conditionalUpsertBody([point], [{ version: 42, fingerprint: 'fp' }], false)),
  ],
  [
    'conditional tombstone',
    'PointsList',
    wire(conditionalUpsertBody([tombstone], [{ version: 43, fingerprint: '' }], true)),
  ],
  ['plain upsert (read-compare-write)', 'PointsList', wire(plainUpsertBody([point, tombstone]))],
  ['retrieve', 'PointRequest', wire(retrieveBody([point.id as string]))],
  ['scroll by source id', 'ScrollRequest', wire(pointsOfIdsBody(['sku-1']))],
  ['dense query', 'QueryRequest', wire(denseQueryBody(document.vector, 10, filter, config))],
  ['sparse query', 'QueryRequest', wire(sparseQueryBody(sparse, 10, filter))],
  ['hybrid query', 'QueryRequest', wire(hybridQueryBody(document.vector, sparse, 100, 10, filter, config))],
  [
    'scan scroll',
    'ScrollRequest',
    wire(scanScrollBody(0, 1000, 'acme', 100, 'a3c4e2a0-0000-5000-8000-000000000000')),
  ],
  ['count', 'CountRequest', wire(countBody('acme'))],
  ['truncate', 'FilterSelector', wire(truncateBody())],
];

// Optional nested members are typed `X | Record<string, unknown> | null` in the generated
// schema (nullable anyOf), which would accept any object: check each nested part on its own.
const conditional = conditionalUpsertBody([point], [{ version: 42, fingerprint: 'fp' }], false);
const hybrid = hybridQueryBody(document.vector, sparse, 100, 10, filter, config);
const dense = denseQueryBody(document.vector, 10, filter, config);
const created = createCollectionBody(spec, config);
bodies.push(
  ['filter with every operator', 'Filter', JSON.stringify(filter)],
  ['update filter', 'Filter', JSON.stringify(conditional.update_filter)],
  ['document point', 'PointStruct', JSON.stringify(point)],
  ['tombstone point', 'PointStruct', JSON.stringify(tombstone)],
  ['sparse vector', 'SparseVector', JSON.stringify(sparse)],
  ['sparse vector params', 'SparseVectorParams', JSON.stringify(created.sparse_vectors!.bm25)],
  ['hnsw config', 'HnswConfigDiff', JSON.stringify(created.hnsw_config)],
  ['search params', 'SearchParams', JSON.stringify(dense.params)],
  ['with payload', 'WithPayloadInterface', JSON.stringify(dense.with_payload)],
  ...(hybrid.prefetch as object[]).map((prefetch, index): [string, string, string] => [
    `prefetch ${index}`,
    'Prefetch',
    JSON.stringify(prefetch),
  ]),
  ...payloadIndexBodies(spec).map((body, index): [string, string, string] => [
    `field schema ${index}`,
    'PayloadFieldSchema',
    JSON.stringify(body.field_schema),
  ]),
);

async function typeCheck(entries: Array<[string, string, string]>): Promise<Map<string, string[]>> {
  const dir = await mkdtemp(join(tmpdir(), 'vectorsync-qdrant-schema-'));
  try {
    const lines = [
      `import type { components } from ${JSON.stringify(schemaFile.replace(/\.d\.ts$/, '.js'))};`,
      `type S = components['schemas'];`,
      ...entries.map(
        ([, type, json], index) => `export const body${index}: S[${JSON.stringify(type)}] = ${json};`,
      ),
    ];
    const file = join(dir, 'bodies.ts');
    await writeFile(file, lines.join('\n'));
    const program = ts.createProgram([file], {
      strict: true,
      noEmit: true,
      skipLibCheck: true,
      module: ts.ModuleKind.NodeNext,
      moduleResolution: ts.ModuleResolutionKind.NodeNext,
      target: ts.ScriptTarget.ES2022,
      types: [],
    });
    const source = program.getSourceFile(file)!;
    const problems = new Map<string, string[]>();
    for (const diagnostic of ts.getPreEmitDiagnostics(program)) {
      const line =
        diagnostic.file === source ? source.getLineAndCharacterOfPosition(diagnostic.start ?? 0).line : -1;
      const text = ts.flattenDiagnosticMessageText(diagnostic.messageText, '\n');
      // Map the line back to the body that contains it.
      let owner = 'program';
      let offset = 2;
      for (const [index, [name, , json]] of entries.entries()) {
        const length = json.split('\n').length;
        if (line >= offset && line < offset + length) owner = `${name} (body${index})`;
        offset += length;
      }
      problems.set(owner, [...(problems.get(owner) ?? []), text]);
    }
    return problems;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

describe('Qdrant request bodies against Qdrant’s documented schema', () => {
  let problems: Map<string, string[]>;
  let malformed: Map<string, string[]>;

  before(async () => {
    problems = await typeCheck(bodies);
    malformed = await typeCheck([
      ['typo in a range', 'Filter', JSON.stringify({ must: [{ key: '_version', rnage: { lt: 3 } }] })],
      [
        'unknown modifier',
        'CreateCollection',
        JSON.stringify({ sparse_vectors: { bm25: { modifier: 'bm25' } } }),
      ],
    ]);
  });
  after(() => undefined);

  it('every body the provider builds matches the schema', () => {
    assert.deepEqual(Object.fromEntries(problems), {});
    assert.ok(bodies.length >= 30, 'the bodies cover collection, indexes, writes, reads and queries');
  });

  it('the check rejects malformed bodies (so a pass means something)', () => {
    assert.equal(
      malformed.size,
      2,
      `both malformed bodies are rejected: ${JSON.stringify(Object.fromEntries(malformed))}`,
    );
  });

  it('uses the documented features: named dense vector, sparse vector with IDF, tenant index, conditional update', () => {
    const create = JSON.parse(bodies[0]![2]) as Record<string, Record<string, Record<string, unknown>>>;
    assert.deepEqual(create.vectors!.dense, { size: 4, distance: 'Cosine' });
    assert.deepEqual(create.sparse_vectors!.bm25, { modifier: 'idf' });
    const indexes = payloadIndexBodies(spec);
    assert.deepEqual(indexes[0], {
      field_name: '_tenant',
      field_schema: { type: 'keyword', is_tenant: true },
    });
    assert.ok(indexes.some((index) => index.field_name === '_bucket'));
    const upsert = JSON.parse(bodies.find(([name]) => name === 'conditional upsert')![2]) as {
      update_filter: { should: Array<{ must: unknown[] }> };
    };
    assert.deepEqual(upsert.update_filter.should[0]!.must[1], { key: '_version', range: { lt: 42 } });
    const hybrid = JSON.parse(bodies.find(([name]) => name === 'hybrid query')![2]) as {
      prefetch: unknown[];
      query: unknown;
    };
    assert.equal(hybrid.prefetch.length, 2);
    assert.deepEqual(hybrid.query, { fusion: 'rrf' });
  });
});
