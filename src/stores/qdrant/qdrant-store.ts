import type { QdrantClient, Schemas } from '@qdrant/js-client-rest';
import { ErrorCode, VectorsyncError } from '../../errors.js';
import type { Logger } from '../../logger.js';
import { silentLogger } from '../../logger.js';
import type { EmbeddedDocument } from '../../pipeline/index-document.js';
import { decodeScanCursor, encodeScanCursor, validateScanRequest } from '../scan-cursor.js';
import type {
  ApplyResult,
  DeleteRequest,
  DenseSearchRequest,
  HybridSearchRequest,
  IndexSpec,
  KeywordSearchRequest,
  ScanPage,
  ScanRequest,
  SearchHit,
  StoreCapabilities,
  StoredRecordMeta,
  UpsertOptions,
  VectorStore,
} from '../vector-store.js';
import {
  assertQueryDimensions,
  byScoreThenId,
  deleteDecision,
  inRequestOrder,
  recordFingerprint,
  type StoredState,
  upsertIntake,
  upsertWins,
} from '../version-guard.js';
import {
  META,
  PAYLOAD_KEY,
  type QdrantStoreConfig,
  querySparseVector,
  supportsConditionalUpdate,
} from './qdrant-config.js';
import { compileQdrantFilter } from './qdrant-filter.js';
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
  pointId,
  pointsOfIdsBody,
  retrieveBody,
  scanScrollBody,
  sparseQueryBody,
  tombstonePoint,
  tombstonesOfIdsBody,
  truncateBody,
} from './qdrant-requests.js';

const PACKAGE = '@qdrant/js-client-rest';

type Guard = 'conditional' | 'read-compare-write';

/**
 * Qdrant over REST: one collection per index version with a named dense vector and a sparse
 * BM25 vector (IDF from Qdrant, term weights from vectorsync), deterministic UUIDv5 point ids
 * from the canonical key, payload indexes for the tenant, the guard's fields, the id bucket and
 * every filter field. The version guard is a conditional upsert (`update_filter` on the stored
 * version, Qdrant ≥ 1.16) or, on older servers, read-compare-write with a documented race
 * window. A delete leaves a tombstone point without vectors.
 */
export class QdrantStore implements VectorStore {
  readonly kind = 'qdrant';
  readonly capabilities: StoreCapabilities;
  private client: Promise<QdrantClient> | undefined;
  private guard: Promise<Guard> | undefined;

  constructor(
    private readonly config: QdrantStoreConfig,
    private readonly options: { logger?: Logger; env?: NodeJS.ProcessEnv } = {},
  ) {
    this.capabilities = {
      sourceForeignKey: false,
      keyword: true,
      filters: true,
      nativeHybrid: config.hybrid === 'native',
    };
  }

  private get logger(): Logger {
    return this.options.logger ?? silentLogger;
  }

  async ensureIndex(spec: IndexSpec): Promise<void> {
    await this.run(async () => {
      const client = await this.connect();
      const { exists } = await client.collectionExists(spec.location);
      if (!exists) await client.createCollection(spec.location, createCollectionBody(spec, this.config));
      for (const body of payloadIndexBodies(spec)) {
        await client.createPayloadIndex(spec.location, { wait: true, ...body });
      }
    });
  }

  async upsert(
    spec: IndexSpec,
    documents: readonly EmbeddedDocument[],
    options: UpsertOptions = {},
  ): Promise<ApplyResult[]> {
    const overwrite = options.overwrite === true;
    if (documents.length === 0) return [];
    const { results, valid } = upsertIntake(spec, documents);
    if (valid.length > 0) {
      await this.run(async () => {
        const client = await this.connect();
        const params = indexParams(spec, this.config);
        // Tombstones of deletes that did not know the tenant live under tenant ''.
        const ids = valid.flatMap((document) => [
          pointId(spec, document.tenant, document.id),
          pointId(spec, '', document.id),
        ]);
        const stored = await this.storedStates(client, spec, ids);
        const points: Schemas['PointStruct'][] = [];
        const guards: Array<{ version: number; fingerprint: string }> = [];
        const written: string[] = [];
        for (const document of valid) {
          const fingerprint = recordFingerprint(document);
          const current = stored.get(pointId(spec, document.tenant, document.id));
          // A delete that did not know the tenant left its tombstone under tenant '': it guards
          // the id in every tenant (a repair removes it, below).
          const orphanTombstone = stored.get(pointId(spec, '', document.id));
          const wins = upsertWins(current, { version: document.version, fingerprint }, overwrite);
          const newer = overwrite
            ? wins || orphanTombstone !== undefined
            : wins && !(orphanTombstone && orphanTombstone.version >= document.version);
          results.set(document.id, { id: document.id, outcome: newer ? 'applied' : 'skipped_stale' });
          if (!newer) continue;
          written.push(document.id);
          points.push(documentPoint(spec, document, params, fingerprint));
          guards.push({ version: document.version, fingerprint });
        }
        if (points.length === 0) return;
        const body =
          !overwrite && (await this.versionGuard(client)) === 'conditional'
            ? conditionalUpsertBody(points, guards, false)
            : plainUpsertBody(points);
        await client.upsert(spec.location, body);
        // The tombstones that contradicted the source, under any tenant (deletes without one live under '').
        if (overwrite) await client.delete(spec.location, tombstonesOfIdsBody(written));
      });
    }
    return inRequestOrder(documents, results);
  }

  async delete(spec: IndexSpec, requests: readonly DeleteRequest[]): Promise<ApplyResult[]> {
    if (requests.length === 0) return [];
    const unique = [...new Map(requests.map((request) => [request.id, request])).values()];
    const outcomes = await this.run(async () => {
      const client = await this.connect();
      const known = unique.filter((request) => request.tenant !== null);
      const stored = await this.storedStates(
        client,
        spec,
        known.map((request) => pointId(spec, request.tenant!, request.id)),
      );
      // Without a tenant, find the record wherever it lives.
      const unknown = unique.filter((request) => request.tenant === null);
      const byId = new Map<string, Array<StoredState & { pointId: string }>>();
      if (unknown.length > 0) {
        const found = await client.scroll(
          spec.location,
          pointsOfIdsBody(unknown.map((request) => request.id)),
        );
        for (const point of found.points) {
          const state = toState(point.payload);
          const list = byId.get(String(point.payload?.[META.id])) ?? [];
          list.push({ ...state, pointId: String(point.id) });
          byId.set(String(point.payload?.[META.id]), list);
        }
      }
      const outcome = new Map<string, ApplyResult['outcome']>();
      const points: Schemas['PointStruct'][] = [];
      const guards: Array<{ version: number; fingerprint: string }> = [];
      const tombstone = (tenant: string, id: string, version: number) => {
        points.push(tombstonePoint(spec, tenant, id, version));
        guards.push({ version, fingerprint: '' });
      };
      for (const request of unique) {
        const candidates =
          request.tenant !== null
            ? [{ ...(stored.get(pointId(spec, request.tenant, request.id)) ?? absent(request.tenant)) }]
            : (byId.get(request.id) ?? []).filter((state) => !state.deleted);
        let remains = false;
        for (const current of candidates) {
          const decision = deleteDecision(current, request);
          if (decision.outcome === 'skipped_stale') remains = true;
          else if (decision.tombstone) tombstone(current.tenant, request.id, decision.tombstone.version);
        }
        if (request.tenant === null && candidates.length === 0)
          tombstone('', request.id, request.version ?? 0);
        outcome.set(request.id, remains ? 'skipped_stale' : 'applied');
      }
      if (points.length > 0) {
        const body =
          (await this.versionGuard(client)) === 'conditional'
            ? conditionalUpsertBody(points, guards, true)
            : plainUpsertBody(points);
        await client.upsert(spec.location, body);
      }
      return outcome;
    });
    return inRequestOrder(requests, outcomes);
  }

  async truncate(spec: IndexSpec): Promise<void> {
    await this.run(async () => {
      await (await this.connect()).delete(spec.location, truncateBody());
    });
  }

  async search(spec: IndexSpec, request: DenseSearchRequest): Promise<SearchHit[]> {
    assertQueryDimensions(spec, request.vector);
    const filter = liveFilter(
      request.tenant,
      request.filter ? compileQdrantFilter(request.filter) : undefined,
    );
    return this.query(spec, denseQueryBody(request.vector, request.k, filter, this.config));
  }

  /**
   * BM25 with vectorsync's term weights and Qdrant's IDF. The IDF statistics are the
   * collection's, across tenants, and k1/b were fixed when the points were written
   * (docs/stores.md#qdrant).
   */
  async keywordSearch(spec: IndexSpec, request: KeywordSearchRequest): Promise<SearchHit[]> {
    if (request.terms.length === 0) return [];
    const filter = liveFilter(
      request.tenant,
      request.filter ? compileQdrantFilter(request.filter) : undefined,
    );
    return this.query(spec, sparseQueryBody(querySparseVector(request.terms), request.k, filter));
  }

  /** Qdrant's own fusion (prefetch + RRF), used when the store is configured with `hybrid: native`. */
  async hybridSearch(spec: IndexSpec, request: HybridSearchRequest): Promise<SearchHit[]> {
    assertQueryDimensions(spec, request.vector);
    const filter = liveFilter(
      request.tenant,
      request.filter ? compileQdrantFilter(request.filter) : undefined,
    );
    return this.query(
      spec,
      hybridQueryBody(
        request.vector,
        querySparseVector(request.terms),
        request.candidates,
        request.k,
        filter,
        this.config,
      ),
    );
  }

  private async query(spec: IndexSpec, body: Schemas['QueryRequest']): Promise<SearchHit[]> {
    const response = await this.run(async () => (await this.connect()).query(spec.location, body));
    return response.points
      .map((point) => ({
        id: String(point.payload?.[META.id]),
        score: point.score,
        version: Number(point.payload?.[META.version]),
        payload: (point.payload?.[PAYLOAD_KEY] as Record<string, unknown> | undefined) ?? {},
      }))
      .sort(byScoreThenId);
  }

  /**
   * Qdrant scrolls in point-UUID order, not id order, so a page reads whole buckets: it
   * scrolls a bucket range to the end, orders what it read by (bucket, id) and cuts at the
   * limit; the cursor is the last (bucket, id) returned. The range read per page adapts to
   * the density of the buckets.
   */
  async scan(spec: IndexSpec, request: ScanRequest): Promise<ScanPage> {
    validateScanRequest(request);
    const after = request.cursor ? decodeScanCursor(request.cursor) : undefined;
    return this.run(async () => {
      const client = await this.connect();
      const records: Array<StoredRecordMeta & { bucket: number }> = [];
      let from = after?.bucket ?? request.bucketFrom;
      let span = 16;
      while (from <= request.bucketTo && records.length < request.limit) {
        const to = Math.min(request.bucketTo, from + span - 1);
        const read: Array<StoredRecordMeta & { bucket: number }> = [];
        let offset: Schemas['ExtendedPointId'] | null | undefined;
        do {
          const page = await client.scroll(
            spec.location,
            scanScrollBody(from, to, request.tenant, Math.min(1000, request.limit * 2), offset),
          );
          for (const point of page.points) {
            const record = toRecord(point.payload);
            if (after && record.bucket === after.bucket && !(record.id > after.id)) continue;
            read.push(record);
          }
          offset = page.next_page_offset as Schemas['ExtendedPointId'] | null | undefined;
        } while (offset !== null && offset !== undefined);
        read.sort((a, b) => a.bucket - b.bucket || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
        records.push(...read);
        from = to + 1;
        span = read.length < request.limit / 4 ? span * 4 : Math.max(1, Math.floor(span / 2));
      }
      if (records.length > request.limit) {
        records.length = request.limit;
        const last = records.at(-1)!;
        return {
          records: records.map(strip),
          cursor: encodeScanCursor({ bucket: last.bucket, id: last.id }),
        };
      }
      return {
        records: records.map(strip),
        cursor: from <= request.bucketTo ? encodeScanCursor({ bucket: from, id: '' }) : null,
      };
    });
  }

  async tombstoneVersions(spec: IndexSpec, ids: readonly string[]): Promise<Map<string, number>> {
    if (ids.length === 0) return new Map();
    return this.run(async () => {
      const found = await (await this.connect()).scroll(spec.location, pointsOfIdsBody([...ids]));
      const versions = new Map<string, number>();
      for (const point of found.points) {
        const state = toState(point.payload);
        const id = String(point.payload?.[META.id]);
        if (state.deleted && state.version > (versions.get(id) ?? Number.NEGATIVE_INFINITY))
          versions.set(id, state.version);
      }
      return versions;
    });
  }

  async count(spec: IndexSpec, tenant?: string): Promise<number> {
    return this.run(async () => (await (await this.connect()).count(spec.location, countBody(tenant))).count);
  }

  async drop(spec: IndexSpec): Promise<void> {
    await this.run(async () => {
      const client = await this.connect();
      if ((await client.collectionExists(spec.location)).exists) await client.deleteCollection(spec.location);
    });
  }

  async ping(): Promise<void> {
    await this.run(async () => {
      await (await this.connect()).versionInfo();
    });
  }

  async close(): Promise<void> {
    this.client = undefined;
  }

  private connect(): Promise<QdrantClient> {
    this.client ??= (async () => {
      let module: typeof import('@qdrant/js-client-rest');
      try {
        module = await import(PACKAGE);
      } catch (error) {
        this.client = undefined;
        throw new VectorsyncError(
          ErrorCode.OptionalDependencyMissing,
          `the "qdrant" store needs the optional package ${PACKAGE}: npm install ${PACKAGE}`,
          { cause: error, details: { package: PACKAGE } },
        );
      }
      const apiKey = (this.options.env ?? process.env)[this.config.apiKeyEnv];
      // checkCompatibility would print a warning to the console; the guard checks the version itself.
      return new module.QdrantClient({
        url: this.config.url,
        timeout: this.config.timeoutMs,
        checkCompatibility: false,
        ...(apiKey ? { apiKey } : {}),
      });
    })();
    return this.client;
  }

  /** Conditional upserts when the server has them (1.16+), else read-compare-write. */
  private versionGuard(client: QdrantClient): Promise<Guard> {
    this.guard ??= (async (): Promise<Guard> => {
      if (this.config.versionGuard !== 'auto') return this.config.versionGuard;
      const { version } = await client.versionInfo();
      const guard = supportsConditionalUpdate(version) ? 'conditional' : 'read-compare-write';
      if (guard === 'read-compare-write') {
        this.logger.warn(
          { qdrantVersion: version },
          'Qdrant server predates conditional updates (1.16); version guard is read-compare-write (see docs/stores.md#qdrant)',
        );
      }
      return guard;
    })().catch((error: unknown) => {
      this.guard = undefined;
      throw error;
    });
    return this.guard;
  }

  private async storedStates(
    client: QdrantClient,
    spec: IndexSpec,
    ids: string[],
  ): Promise<Map<string, StoredState>> {
    if (ids.length === 0) return new Map();
    const points = await client.retrieve(spec.location, retrieveBody([...new Set(ids)]));
    return new Map(points.map((point) => [String(point.id), toState(point.payload)]));
  }

  /** Maps client failures to vectorsync errors once, at the store boundary. */
  private async run<T>(work: () => Promise<T>): Promise<T> {
    try {
      return await work();
    } catch (error) {
      if (error instanceof VectorsyncError) throw error;
      const status = (error as { status?: unknown }).status;
      const message = (error as Error).message ?? String(error);
      const statusCode =
        typeof status === 'number' ? status : Number(/Unexpected Response: (\d{3})/.exec(message)?.[1]);
      const network =
        error instanceof TypeError ||
        /fetch failed|ECONNREFUSED|ECONNRESET|ENOTFOUND|EHOSTUNREACH|socket|Timeout|timed out/i.test(
          `${message} ${String((error as { cause?: { code?: string } }).cause?.code ?? '')}`,
        );
      if (statusCode === 404) {
        throw new VectorsyncError(ErrorCode.IndexNotFound, `qdrant collection not found: ${message}`, {
          cause: error,
        });
      }
      const transient = network || statusCode === 429 || statusCode >= 500;
      throw new VectorsyncError(
        transient ? ErrorCode.StoreUnavailable : ErrorCode.StoreFailed,
        `qdrant store ${transient ? 'unreachable' : 'error'}: ${message}`,
        { cause: error, transient, details: Number.isFinite(statusCode) ? { status: statusCode } : {} },
      );
    }
  }
}

function absent(tenant: string): StoredState {
  return { tenant, version: Number.NEGATIVE_INFINITY, deleted: true, fingerprint: '' };
}

function toState(payload: Record<string, unknown> | null | undefined): StoredState {
  return {
    tenant: String(payload?.[META.tenant] ?? ''),
    version: Number(payload?.[META.version] ?? 0),
    deleted: payload?.[META.deleted] === true,
    fingerprint: String(payload?.[META.fingerprint] ?? ''),
  };
}

function toRecord(
  payload: Record<string, unknown> | null | undefined,
): StoredRecordMeta & { bucket: number } {
  return {
    id: String(payload?.[META.id]),
    tenant: String(payload?.[META.tenant]),
    version: Number(payload?.[META.version]),
    contentHash: String(payload?.[META.hash]),
    bucket: Number(payload?.[META.bucket]),
  };
}

function strip(record: StoredRecordMeta & { bucket: number }): StoredRecordMeta {
  const { bucket: _, ...meta } = record;
  return meta;
}
