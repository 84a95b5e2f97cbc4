// Run by test/document-pool.compiled.test.ts with plain node (no tsx): the compiled package must
// build documents in its worker threads by itself.
const dist = process.argv[2];
const { DocumentPool } = await import(`${dist}/runtime/document-pool.js`);
const { parseTextTemplate } = await import(`${dist}/config/text-template.js`);
const { Analyzer } = await import(`${dist}/pipeline/analyzer.js`);
const { HashEmbedder } = await import(`${dist}/embedders/hash-embedder.js`);
const { MemoryEmbeddingCache } = await import(`${dist}/pipeline/embedding-cache.js`);
const messages = [];
const logger = {
  debug() {},
  info: (_f, m) => messages.push(m),
  warn: (_f, m) => messages.push(m),
  error: (f, m) => messages.push(`${m}: ${f.err}`),
  child() {
    return logger;
  },
};
const analyzer = new Analyzer();
const collection = {
  name: 'notes',
  definition: {
    name: 'notes',
    config: { embedder: 'local' },
    table: { schema: 'public', name: 'notes' },
    tenantColumn: { name: 'tenant' },
    versionColumn: { name: 'version' },
    template: parseTextTemplate('{{body}}'),
    keywordFields: ['body'],
    payloadFields: [],
  },
  analyzer,
};
collection.embedding = {
  key: 'local',
  config: { provider: 'hash', dimensions: 16, cache: 'memory' },
  embedder: new HashEmbedder(16),
  cache: new MemoryEmbeddingCache(),
};
collection.embedder = collection.embedding.embedder;
collection.embeddingCache = collection.embedding.cache;
const pool = new DocumentPool({
  threads: 1,
  budgetMs: 30000,
  memoryMb: 256,
  logger,
  inlineMaxChars: 0,
});
const { documents } = await pool.prepare(collection, [
  { id: 'n1', tenant: 't', version: 1, values: { body: 'Running shoes ' + 'z'.repeat(600) } },
]);
await pool.close();
const [result] = documents;
console.log(
  JSON.stringify({
    error: result.error?.message,
    termCount: result.document?.termCount,
    dimensions: result.document?.vector.length,
    execArgv: process.execArgv,
    messages,
  }),
);
