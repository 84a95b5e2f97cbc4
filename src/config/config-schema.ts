import { z } from 'zod';
import { parseDuration } from './duration.js';

/**
 * The shape of vectorsync.config.json. Every object is strict: an unknown key is an error
 * that names it, because a misspelt option silently ignored is a production incident.
 */
const name = z
  .string()
  .regex(
    /^[a-z][a-z0-9_]{0,39}$/,
    'must be lowercase letters, digits and _, starting with a letter (max 40)',
  );

const hashEmbedder = z.strictObject({
  provider: z.literal('hash'),
  dimensions: z.number().int().min(8).max(4096).default(256),
  /** Hashing is cheaper than a cache lookup in Postgres, so only memory by default. */
  cache: z.enum(['postgres', 'memory', 'none']).default('memory'),
});

const openAiEmbedder = z.strictObject({
  provider: z.literal('openai'),
  model: z.string().min(1),
  dimensions: z.number().int().min(1).max(16000),
  baseUrl: z.string().url().default('https://api.openai.com/v1'),
  /** Environment variable holding the API key; unset or empty means no Authorization header (Ollama, TEI). */
  apiKeyEnv: z.string().default('OPENAI_API_KEY'),
  /** Send `dimensions` in the request (only models that can shorten their output accept it). */
  requestDimensions: z.boolean().default(false),
  batchSize: z.number().int().min(1).max(2048).default(96),
  timeoutMs: z.number().int().min(100).default(30_000),
  maxRetries: z.number().int().min(0).max(20).default(5),
  /** Inputs longer than this are cut (at a word boundary) before they are sent. */
  maxInputChars: z.number().int().min(16).default(8000),
  cache: z.enum(['postgres', 'memory', 'none']).default('postgres'),
  /**
   * Client-side limits of this provider, per process (docs/embedders.md): the provider's own
   * 429s, Retry-After and x-ratelimit-* headers are honoured whatever these say.
   */
  limits: z
    .strictObject({
      requestsPerMinute: z.number().int().positive().optional(),
      tokensPerMinute: z.number().int().positive().optional(),
      concurrency: z.number().int().min(1).max(256).default(4),
      /** A longer wait for a turn pauses the collections using this provider instead of holding a worker. */
      maxWaitMs: z.number().int().min(0).max(600_000).default(2000),
    })
    .default({ concurrency: 4, maxWaitMs: 2000 }),
  /**
   * The provider bills by the token: metered in the ledger, capped by budgets, estimated and
   * confirmed before big runs. Absent: true for api.openai.com and Azure OpenAI, false for other
   * endpoints (a self-hosted Ollama, vLLM or TEI); set it for another paid provider.
   */
  billed: z.boolean().optional(),
  /** The OpenAI encoding that estimates tokens a request's answer does not report (and dry runs). */
  tokenizer: z.enum(['o200k_base', 'cl100k_base']).default('cl100k_base'),
});

const winkEmbedder = z.strictObject({
  provider: z.literal('wink'),
  /** SIF smoothing parameter a. */
  sifA: z.number().positive().max(1).default(1e-3),
  /** Remove the common component (SIF's second step). */
  removeCommonComponent: z.boolean().default(true),
  /** Where the converted word vectors are kept (default $VECTORSYNC_CACHE_DIR or ~/.cache/vectorsync). */
  cacheDir: z.string().optional(),
  cache: z.enum(['postgres', 'memory', 'none']).default('memory'),
});

const transformersEmbedder = z.strictObject({
  provider: z.literal('transformers'),
  /** A local model directory, or a model id already in the transformers cache (never downloaded). */
  model: z.string().min(1),
  dimensions: z.number().int().min(1).max(16000),
  pooling: z.enum(['mean', 'cls']).default('mean'),
  normalize: z.boolean().default(true),
  /** Prefer the model's quantised ONNX weights. */
  quantized: z.boolean().default(true),
  /** Directory holding models (transformers' localModelPath / cacheDir). */
  modelDir: z.string().optional(),
  batchSize: z.number().int().min(1).max(1024).default(32),
  cache: z.enum(['postgres', 'memory', 'none']).default('postgres'),
});

export const embedderSchema = z.discriminatedUnion('provider', [
  hashEmbedder,
  openAiEmbedder,
  winkEmbedder,
  transformersEmbedder,
]);

const pgvectorStore = z.strictObject({
  provider: z.literal('pgvector'),
  /** Another Postgres for the vectors; default: the source database (with a foreign key to the source row). */
  databaseUrl: z.string().optional(),
  hnsw: z
    .strictObject({
      m: z.number().int().min(2).max(100).default(16),
      efConstruction: z.number().int().min(4).max(1000).default(64),
      efSearch: z.number().int().min(1).max(1000).default(40),
    })
    .default({ m: 16, efConstruction: 64, efSearch: 40 }),
  /** pgvector 0.8 iterative index scans keep filtered searches from returning too few rows. */
  iterativeScan: z.enum(['off', 'relaxed_order', 'strict_order']).default('relaxed_order'),
  maxScanTuples: z.number().int().min(1).default(20_000),
  /** Query-time setting of IVFFlat indexes (built with `vectorsync index build --method ivfflat`). */
  ivfflat: z
    .strictObject({ probes: z.number().int().min(1).max(32_768).default(10) })
    .default({ probes: 10 }),
  /**
   * How vectors are stored: `vector` (4-byte floats) or `halfvec` (2-byte floats: half the table
   * and HNSW graph, up to 4,000 dimensions indexed instead of 2,000). Part of an index version's
   * shape: an existing version keeps its type, and `vectorsync reembed` moves to the new one.
   */
  vectorType: z.enum(['vector', 'halfvec']).default('vector'),
});

/** LanceDB, embedded: one table per index version under `dataDir` (docs/stores.md#lancedb). */
const lancedbStore = z.strictObject({
  provider: z.literal('lancedb'),
  /** Directory holding the tables (a local path, or an object-store URI LanceDB understands). */
  dataDir: z.string().min(1),
  /** Build an IVF-HNSW-SQ vector index once a table holds this many records; smaller tables are searched exactly. */
  annIndexMinRows: z.number().int().min(256).default(50_000),
  /** IVF partitions probed per query: recall against latency. */
  nprobes: z.number().int().min(1).max(10_000).default(20),
  /** Re-rank this many times k candidates with exact distances (1: off). */
  refineFactor: z.number().int().min(1).max(100).default(1),
});

/** Qdrant over its REST API (docs/stores.md#qdrant). */
const qdrantStore = z.strictObject({
  provider: z.literal('qdrant'),
  url: z.string().url().default('http://127.0.0.1:6333'),
  /** Environment variable holding the API key; unset or empty: no key sent. */
  apiKeyEnv: z.string().default('QDRANT_API_KEY'),
  timeoutMs: z.number().int().min(100).default(10_000),
  /** Hybrid fusion: `service` fuses with vectorsync's fusion (same as every store); `native` uses Qdrant's Query API RRF. */
  hybrid: z.enum(['service', 'native']).default('service'),
  hnsw: z
    .strictObject({
      m: z.number().int().min(0).max(100).default(16),
      efConstruct: z.number().int().min(4).max(1000).default(100),
      efSearch: z.number().int().min(1).max(10_000).default(128),
    })
    .default({ m: 16, efConstruct: 100, efSearch: 128 }),
  /** Average document length (in terms) assumed by the BM25 weights written with each point; recorded with the index. */
  bm25AvgDocLength: z.number().positive().default(64),
  /** `auto`: conditional upserts (update_filter) when the server is 1.16 or newer, else read-compare-write. */
  versionGuard: z.enum(['auto', 'conditional', 'read-compare-write']).default('auto'),
});

export const storeSchema = z.discriminatedUnion('provider', [pgvectorStore, lancedbStore, qdrantStore]);

export const analyzerSchema = z
  .strictObject({
    /** Snowball English (Porter2) stemming. */
    stemming: z.boolean().default(true),
    /** `english` (Lucene's English stop set), `none`, or your own list. */
    stopwords: z.union([z.enum(['english', 'none']), z.array(z.string().min(1))]).default('english'),
    foldAccents: z.boolean().default(true),
    minTokenLength: z.number().int().min(1).max(20).default(1),
    /**
     * Longer tokens are split into pieces of this many characters (Elasticsearch's standard
     * tokenizer; Lucene's default 255). At most 256, so that a term fits every store's term
     * limit in UTF-8 (LanceDB's full-text index drops tokens over 1024 bytes).
     */
    maxTokenLength: z.number().int().min(1).max(256).default(255),
  })
  .refine((analyzer) => analyzer.maxTokenLength >= analyzer.minTokenLength, {
    message: 'maxTokenLength must be at least minTokenLength',
    path: ['maxTokenLength'],
  });

/**
 * Hybrid defaults come from `npm run bench:relevance` on the shared test collections with the
 * offline embedder: weighted min-max fusion with the semantic signal at 0.2 was the best
 * single setting there (docs/benchmarks/relevance.md). With a strong embedder, measure with
 * `vectorsync eval`; RRF with equal weights is the usual choice then.
 */
export const searchSchema = z.strictObject({
  bm25: z
    .strictObject({ k1: z.number().min(0).max(10).default(1.2), b: z.number().min(0).max(1).default(0.75) })
    .default({ k1: 1.2, b: 0.75 }),
  /** How hybrid mode combines the semantic and keyword rankings. */
  fusion: z.enum(['rrf', 'weighted']).default('weighted'),
  rrfK: z.number().int().min(1).max(1000).default(60),
  weights: z
    .strictObject({ semantic: z.number().min(0).default(0.2), keyword: z.number().min(0).default(1) })
    .default({ semantic: 0.2, keyword: 1 }),
  /** Score normalisation for weighted fusion. */
  normalization: z.enum(['minmax', 'zscore']).default('minmax'),
  /** Candidates each signal contributes to fusion (at least offset + k). */
  candidates: z.number().int().min(1).max(1000).default(100),
});

const collectionSync = z.strictObject({
  /** outbox: capture triggers + workers. cdc: logical replication. dual-write: the documents API writes both. */
  mode: z.enum(['outbox', 'cdc', 'dual-write']).default('outbox'),
  /** Publish captured changes to the event bus (top-level `bus`) and apply them from it. */
  bus: z.boolean().default(false),
});

const orderByEntry = z
  .string()
  .regex(
    /^[A-Za-z_][A-Za-z0-9_]*(\s+(asc|desc|ASC|DESC))?$/,
    'a column name, optionally followed by asc or desc ("created_at desc")',
  );

/**
 * A table whose rows are part of a collection's documents (docs/configuration.md#relations).
 * `one`: the owner's `foreignKey` column references this table's `references` column (its
 * primary key by default): a product's brand. `many`: this table's `foreignKey` column
 * references the owner's `references` column (the owner's key by default): a product's variants.
 */
const relationFields = {
  table: z.string().min(1),
  kind: z.enum(['one', 'many']),
  foreignKey: z.string().min(1),
  references: z.string().min(1).optional(),
  /** `many`: the order of the rows in lists (the table's key breaks ties). */
  orderBy: z.array(orderByEntry).default([]),
  /** `many`: at most this many rows feed lists (counts see every row). */
  limit: z.number().int().min(1).max(10_000).default(100),
};

/** The second hop: a relation of a relation. */
const nestedRelationSchema = z.strictObject(relationFields);

export const relationSchema = z.strictObject({
  ...relationFields,
  relations: z.record(name, nestedRelationSchema).default({}),
});

/** A payload entry: a column, or a named field expression (`{"name": "brand", "value": "brand.name"}`). */
const payloadEntry = z.union([
  z.string().min(1),
  z.strictObject({ name: z.string().regex(/^[A-Za-z_][A-Za-z0-9_]{0,62}$/), value: z.string().min(1) }),
]);

/**
 * Long text in chunks (docs/configuration.md#chunking): each chunk of the embedding input is
 * embedded and searched on its own; results are still documents, with their best chunk.
 */
export const chunkingSchema = z
  .strictObject({
    /** recursive: by separators, largest first. markdown: by sections, headings kept with them. sentences: whole sentences. */
    splitter: z.enum(['recursive', 'markdown', 'sentences']).default('recursive'),
    /** What size and overlap count: characters, or tokens of an OpenAI encoding (needs the gpt-tokenizer package). */
    unit: z.enum(['characters', 'tokens']).default('characters'),
    encoding: z.enum(['o200k_base', 'cl100k_base']).default('o200k_base'),
    /** Largest chunk (default: 1,000 characters or 256 tokens). */
    size: z.number().int().min(16).max(100_000).optional(),
    /** How much of the previous chunk each chunk repeats (same unit). */
    overlap: z.number().int().min(0).default(0),
    /** recursive: the separators tried in order (default: paragraphs, lines, sentences, words). */
    separators: z.array(z.string().min(1)).min(1).max(20).optional(),
    /** A document that needs more chunks than this fails (CHUNK_LIMIT_EXCEEDED), whole. */
    maxChunks: z.number().int().min(1).max(100_000).default(1000),
  })
  .refine(
    (chunking) => chunking.overlap * 2 <= (chunking.size ?? (chunking.unit === 'tokens' ? 256 : 1000)),
    {
      message: 'overlap must be at most half of size',
      path: ['overlap'],
    },
  );

export const collectionSchema = z.strictObject({
  /** Source table, `schema.table` or `table` (schema public). */
  table: z.string().min(1),
  /**
   * The source primary key: one column, or the columns of a composite key in the order the
   * canonical id lists them (`["org_id", "note_no"]` gives ids like `acme,42`).
   */
  primaryKey: z.union([z.string().min(1), z.array(z.string().min(1)).min(1)], {
    error: (issue) =>
      issue.input === undefined
        ? 'required (a column name, or a list of column names for a composite key)'
        : 'must be a column name, or a non-empty list of column names for a composite key',
  }),
  tenantColumn: z.string().min(1),
  /** A column whose value grows with every write to the row (bigint, numeric or timestamp). */
  versionColumn: z.string().min(1),
  /** Let vectorsync set the version column from a global sequence on every insert and update. */
  manageVersion: z.boolean().default(false),
  /** Embedding input, e.g. "{{name}}. {{description}}". */
  text: z.string().min(1),
  /** Columns, or relation fields (`brand.name`, `variants.color | distinct`). */
  keywordFields: z.array(z.string().min(1)).default([]),
  payloadFields: z.array(payloadEntry).default([]),
  /** Related tables whose rows are part of each document: one or two hops from the source table. */
  relations: z.record(name, relationSchema).default({}),
  /** Split the embedding input into chunks (absent: one vector per document). */
  chunking: chunkingSchema.optional(),
  store: name,
  embedder: name,
  analyzer: analyzerSchema.default(analyzerSchema.parse({})),
  search: searchSchema.default(searchSchema.parse({})),
  sync: collectionSync.default({ mode: 'outbox', bus: false }),
});

export const syncSchema = z.strictObject({
  /** notify: LISTEN/NOTIFY wakes workers, with a sweep as the safety net. poll: sweep only. */
  wake: z.enum(['notify', 'poll']).default('notify'),
  pollIntervalMs: z.number().int().min(10).default(1000),
  sweepIntervalMs: z.number().int().min(100).default(10_000),
  concurrency: z.number().int().min(1).max(64).default(2),
  batchSize: z.number().int().min(1).max(10_000).default(500),
  maxAttempts: z.number().int().min(1).max(100).default(8),
  /**
   * A change whose processing killed this many workers (or CDC consumers) ends failed
   * (WORKER_LOST) instead of crashing the next one; after the first crash it is processed alone.
   */
  maxCrashes: z.number().int().min(1).max(100).default(3),
  backoffBaseMs: z.number().int().min(1).default(1000),
  backoffMaxMs: z.number().int().min(1).default(300_000),
  /** Done events are deleted after this many hours. */
  retentionHours: z.number().min(0).default(72),
  pruneIntervalMs: z.number().int().min(100).default(60_000),
  heartbeatMs: z.number().int().min(50).default(5000),
  /** A worker silent for this long is dead: the events it held go back to pending. */
  workerTimeoutMs: z.number().int().min(100).default(30_000),
  /** Lag percentiles in status cover events finished within this window. */
  lagWindowSeconds: z.number().int().min(1).default(300),
  listenReconnectMaxMs: z.number().int().min(10).default(30_000),
  /** Dual-write: how long a request waits for the index write before answering anyway (drift recorded). */
  dualWriteTimeoutMs: z.number().int().min(1).default(2000),
  /** How often each process reloads the list of live indexes (new builds, cut-overs). */
  indexRefreshMs: z.number().int().min(50).default(2000),
  /**
   * Worker threads that build documents (template, analysis, payload) and run the local CPU
   * embedders (hash, wink) off the event loop. `auto`: one less than the cores, from 1 to 4.
   * 0 does that work on the event loop, without a budget (for comparison and debugging only).
   */
  cpuThreads: z.union([z.literal('auto'), z.number().int().min(0).max(64)]).default('auto'),
  /**
   * Time one document may take to be built or embedded in a worker thread. A document that
   * exceeds it fails (DOCUMENT_BUDGET_EXCEEDED, counted as an attempt) and its thread is replaced.
   */
  documentBudgetMs: z.number().int().min(10).default(5000),
  /** Heap limit of each worker thread: a document that needs more kills its thread, not the process. */
  cpuThreadMemoryMb: z.number().int().min(32).max(65_536).default(512),
});

export const cdcSchema = z.strictObject({
  /** Publication over the tables of every CDC collection (owned by vectorsync). */
  publication: z
    .string()
    .regex(/^[a-z_][a-z0-9_]{0,62}$/)
    .default('vectorsync'),
  /** Permanent logical replication slot (pgoutput); one consumer holds it at a time. */
  slot: z
    .string()
    .regex(/^[a-z0-9_]{1,63}$/)
    .default('vectorsync'),
  /** Changes applied per batch; the slot is confirmed after each applied batch. */
  batchSize: z.number().int().min(1).max(100_000).default(2000),
  /** How long to gather changes into a batch once the first arrives. */
  batchDelayMs: z.number().int().min(0).default(20),
  /** A batch is applied as this many concurrent parts, split by row (each row stays in one part): the index writes of one session use one core. */
  applyConcurrency: z.number().int().min(1).max(16).default(2),
  /** Standby status interval (must stay below the server's wal_sender_timeout). */
  statusIntervalMs: z.number().int().min(100).default(10_000),
  /** Status warns when the slot retains more WAL than this (the WAL-bloat hazard)… */
  maxLagBytes: z
    .number()
    .int()
    .min(0)
    .default(1024 * 1024 * 1024),
  /** …or when the oldest unapplied change is older than this. */
  maxLagSeconds: z.number().min(0).default(300),
  reconnectMaxMs: z.number().int().min(10).default(30_000),
});

export const busSchema = z.strictObject({
  provider: z.literal('nats'),
  /** NATS server(s) with JetStream enabled. */
  url: z.string().default('nats://127.0.0.1:4222'),
  /** JetStream stream holding every change event (one subject per collection: `<subjectPrefix>.<collection>`). */
  stream: z
    .string()
    .regex(/^[A-Za-z0-9_-]+$/)
    .default('VECTORSYNC'),
  subjectPrefix: z
    .string()
    .regex(/^[A-Za-z0-9_-]+$/)
    .default('vectorsync'),
  /** Durable consumer that applies events to the indexes. */
  consumer: z
    .string()
    .regex(/^[A-Za-z0-9_-]+$/)
    .default('vectorsync-apply'),
  /** Keep events this long (0: forever, which replay needs). */
  maxAgeHours: z.number().min(0).default(0),
  ackWaitMs: z.number().int().min(1000).default(30_000),
});

export const reconcileSchema = z.strictObject({
  /** Source rows per keyset page (and index records per scan page). */
  pageSize: z.number().int().min(100).max(100_000).default(5000),
  /** Sample ids reported per kind of drift. */
  sampleSize: z.number().int().min(0).max(1000).default(20),
  /** Checksum groups are 2^bucketBits id-bucket ranges; 16 compares bucket by bucket. */
  bucketBits: z.number().int().min(4).max(16).default(16),
  /** At most this many rows of differing groups are held in memory for the row-by-row diff at once. */
  diffRowBudget: z.number().int().min(1000).default(100_000),
  /** Repairs applied per batch. */
  repairBatchSize: z.number().int().min(1).max(10_000).default(500),
  schedule: z
    .strictObject({
      /** Run every collection's reconciliation this often in the service (0: never). */
      intervalMinutes: z.number().min(0).default(1440),
      /** Scheduled runs repair what they find (default: report only). */
      fix: z.boolean().default(false),
      /** Only these collections (default: all). */
      collections: z.array(name).optional(),
    })
    .default({ intervalMinutes: 1440, fix: false }),
});

const duration = z
  .string()
  .refine((value) => parseDuration(value) !== undefined, 'a duration such as "90s", "30m" or "1h30m"');

/** Safe index operations (`vectorsync index …`, docs/index-operations.md). */
export const indexOpsSchema = z.strictObject({
  /** maintenance_work_mem of build sessions: an HNSW build is fast while its graph fits in it. */
  maintenanceWorkMem: z
    .string()
    .regex(/^\d+(kB|MB|GB|TB)$/, 'a Postgres memory size such as "512MB" or "2GB"')
    .default('512MB'),
  /** max_parallel_maintenance_workers of build sessions (0: the build runs in one backend). */
  parallelWorkers: z.number().int().min(0).max(64).default(2),
  /** A rebuild's new index must reach recall@10 of at least min(current index's recall, this). */
  recallFloor: z.number().min(0).max(1).default(0.9),
  /** Sample queries for recall@10 against exact search. */
  verifyQueries: z.number().int().min(1).max(10_000).default(100),
  rehearsal: z
    .strictObject({
      /** Rows in the largest rehearsal sample (drawn from the live rows when the rehearsal runs). */
      sampleRows: z.number().int().min(100).default(50_000),
      /** How many sample sizes (up to sampleRows) the time model is fitted on. */
      steps: z.number().int().min(2).max(10).default(3),
      /** A build warns when the table has grown past this multiple of the rehearsed row count… */
      growthWarningFactor: z.number().min(1).default(1.25),
      /** …or when the rehearsal is older than this. */
      maxAgeHours: z.number().min(0).default(72),
    })
    .default({ sampleRows: 50_000, steps: 3, growthWarningFactor: 1.25, maxAgeHours: 72 }),
  /** Deadline when none is declared and no rehearsal predicts the duration. */
  defaultDeadline: duration.default('6h'),
  /** With a rehearsal and no declared deadline: deadline = this × the predicted duration. */
  deadlineFactor: z.number().min(1).default(3),
  /** Warn "slower than predicted" when the projected duration exceeds this × the prediction. */
  slowFactor: z.number().min(1).default(1.5),
  /** A declared minimum rate is judged only after the build has run this long. */
  minRateGraceSeconds: z.number().min(0).default(60),
  pollIntervalMs: z.number().int().min(20).default(1000),
  /** Interval of progress log lines. */
  logIntervalMs: z.number().int().min(100).default(10_000),
  /** An operation whose owner is silent this long and whose backend is gone has crashed. */
  heartbeatTimeoutMs: z.number().int().min(100).default(15_000),
});

/** An origin as a browser sends it (`https://app.example.com`, no path), or `*` for any. */
const corsOrigin = z
  .string()
  .refine(
    (value) => value === '*' || (URL.canParse(value) && new URL(value).origin === value),
    'an origin such as "https://app.example.com" (scheme, host, optional port; no path), or "*"',
  );

/** Cross-origin requests from browsers; off unless configured. */
const corsSchema = z
  .strictObject({
    origins: z.array(corsOrigin).min(1),
    /** Let browsers send cookies / HTTP authentication (then "*" is not allowed). */
    credentials: z.boolean().default(false),
    /** How long a browser may cache a preflight answer. */
    maxAgeSeconds: z.number().int().min(0).default(600),
  })
  .refine((cors) => !(cors.credentials && cors.origins.includes('*')), {
    message: 'origins must list the allowed origins when credentials is true ("*" is not allowed then)',
    path: ['origins'],
  });

const timeoutMs = z.number().int().min(0);

export const serverSchema = z
  .strictObject({
    host: z.string().default('127.0.0.1'),
    port: z.number().int().min(0).max(65535).default(8787),
    bodyLimitBytes: z.number().int().min(1024).default(1_048_576),
    runWorkers: z.boolean().default(true),
    /** Collection served by the seed-style aliases /search, /search/semantic, /search/keyword. */
    aliasCollection: z.string().optional(),
    cors: corsSchema.optional(),
    /** A second listener serving only `GET /metrics`, without authentication (for Prometheus). */
    metricsPort: z.number().int().min(0).max(65535).optional(),
    /** Its address (default: `host`). */
    metricsHost: z.string().optional(),
    /** Receiving a whole request (headers and body); a slower client gets 408. 0: no limit. */
    requestTimeoutMs: timeoutMs.default(30_000),
    /** Receiving a request's headers; at most requestTimeoutMs. */
    headersTimeoutMs: z.number().int().min(1).default(10_000),
    /** An idle keep-alive connection is closed after this (above a load balancer's idle timeout). */
    keepAliveTimeoutMs: z.number().int().min(1).default(72_000),
    /** From the headers' arrival to the answer; later gets 503 HANDLER_TIMEOUT (the work goes on). 0: no limit. */
    handlerTimeoutMs: timeoutMs.default(60_000),
    /** A socket with no traffic at all for this long is destroyed. 0: none (the timeouts above cover every phase). */
    connectionTimeoutMs: timeoutMs.default(0),
    /** Requests served on one keep-alive connection before it is closed. 0: no limit. */
    maxRequestsPerSocket: z.number().int().min(0).default(0),
    /** A longer URL (path and query) gets 414 URI_TOO_LONG. */
    maxUrlLength: z.number().int().min(256).default(8192),
    /** Request line plus headers; larger gets 431 HEADERS_TOO_LARGE. */
    maxHeaderBytes: z.number().int().min(1024).default(16_384),
    /**
     * How long the service reuses the answer to an API-key lookup (accepted or refused); 0: a
     * query per request. A key revoked by another process works here for up to this long.
     */
    apiKeyCacheMs: z.number().int().min(0).max(300_000).default(5000),
    /**
     * Requests per API key (without a valid key: per client address) per fixed window, in each
     * process; `false` turns the limit off. The default, 1000 per 10 s (100/s sustained), is far
     * above what one client of a search API needs and keeps a runaway client from taking a whole
     * process.
     */
    rateLimit: z
      .union([
        z.literal(false),
        z.strictObject({
          max: z.number().int().min(1).default(1000),
          windowMs: z.number().int().min(100).max(3_600_000).default(10_000),
        }),
      ])
      .default({ max: 1000, windowMs: 10_000 }),
  })
  .refine((server) => server.requestTimeoutMs === 0 || server.headersTimeoutMs <= server.requestTimeoutMs, {
    message: 'headersTimeoutMs must not exceed requestTimeoutMs',
    path: ['headersTimeoutMs'],
  })
  // The handler's clock starts when the headers are in: a slow body must meet 408 first.
  .refine(
    (server) =>
      server.handlerTimeoutMs === 0 ||
      server.requestTimeoutMs === 0 ||
      server.handlerTimeoutMs > server.requestTimeoutMs,
    { message: 'handlerTimeoutMs must exceed requestTimeoutMs (or be 0)', path: ['handlerTimeoutMs'] },
  );

/** What a model's tokens cost, in US dollars per million input tokens (the provider's list price). */
const modelPrice = z.strictObject({
  perMillionTokens: z.number().min(0),
  /** The batch API's price; absent: the batch lane is priced like the synchronous API. */
  batchPerMillionTokens: z.number().min(0).optional(),
});

export const costsSchema = z.strictObject({
  /**
   * Prices by model, keyed by the embedder's model name (`text-embedding-3-small`) or its model
   * id (`openai:text-embedding-3-small`). A model without a price has an unknown cost: the
   * ledger still counts its tokens, and a budget over it pauses embedding rather than guess.
   */
  prices: z.record(z.string().min(1), modelPrice).default({}),
  /** setup, reembed and backfills ask before spending more than this (a dry run's estimate). */
  confirmAboveUsd: z.number().min(0).default(1),
  /** How often the ledger's counts are written to Postgres (and read back by budgets elsewhere). */
  ledgerFlushMs: z.number().int().min(10).max(60_000).default(1000),
  /** How often the batch lane asks the provider about its batches (they take minutes to hours). */
  batchPollIntervalMs: z.number().int().min(10).max(3_600_000).default(30_000),
  /**
   * How often work held back by a spent budget looks again (each look reads and builds its
   * rows). `vectorsync budget set` and `clear` wake it at once; a period's end within this.
   */
  budgetRecheckMs: z.number().int().min(100).max(3_600_000).default(60_000),
});

export const configSchema = z.strictObject({
  $schema: z.string().optional(),
  databaseUrl: z.string().optional(),
  poolSize: z.number().int().min(1).max(200).default(10),
  embedders: z.record(name, embedderSchema),
  stores: z.record(name, storeSchema),
  collections: z.record(name, collectionSchema),
  sync: syncSchema.default(syncSchema.parse({})),
  cdc: cdcSchema.default(cdcSchema.parse({})),
  bus: busSchema.optional(),
  server: serverSchema.default(serverSchema.parse({})),
  reconcile: reconcileSchema.default(reconcileSchema.parse({})),
  indexOps: indexOpsSchema.default(indexOpsSchema.parse({})),
  costs: costsSchema.default(costsSchema.parse({})),
});

export type ConfigInput = z.input<typeof configSchema>;
export type VectorsyncConfig = z.output<typeof configSchema>;
export type EmbedderConfig = z.output<typeof embedderSchema>;
export type StoreConfig = z.output<typeof storeSchema>;
export type CollectionConfig = z.output<typeof collectionSchema>;
export type RelationConfig = z.output<typeof relationSchema>;
export type ChunkingConfig = z.output<typeof chunkingSchema>;
export type NestedRelationConfig = z.output<typeof nestedRelationSchema>;
export type PayloadEntry = z.output<typeof payloadEntry>;
export type SyncConfig = z.output<typeof syncSchema>;
export type CostsConfig = z.output<typeof costsSchema>;
export type ModelPrice = z.output<typeof modelPrice>;
export type CdcConfig = z.output<typeof cdcSchema>;
export type BusConfig = z.output<typeof busSchema>;
export type AnalyzerSettings = z.output<typeof analyzerSchema>;
export type SearchSettings = z.output<typeof searchSchema>;
export type ServerConfig = z.output<typeof serverSchema>;
export type ReconcileConfig = z.output<typeof reconcileSchema>;
export type IndexOpsConfig = z.output<typeof indexOpsSchema>;
