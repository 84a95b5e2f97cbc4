import { DOCUMENT_REVISIONS_TABLE } from '../capture/cdc/cdc-setup.js';
import type { Lsn } from '../capture/cdc/lsn.js';
import { PgoutputDecoder, type Relation, tupleText } from '../capture/cdc/pgoutput-decoder.js';
import type { CollectionDefinition } from '../config/collection-definition.js';
import { encodeCanonicalId } from '../pipeline/canonical-id.js';
import type { CollectionRuntime } from '../runtime/vectorsync-runtime.js';
import type { ChangeEvent } from './change-event.js';

/** One committed source transaction as the CDC consumer applies it. */
export interface CdcTransaction {
  xid: number;
  endLsn: Lsn;
  commitTime: Date;
  events: ChangeEvent[];
}

/**
 * Change extraction for the CDC consumer: decodes the pgoutput messages of one replication
 * session and turns the changes of the streamed collections' tables into change events, one
 * transaction at a time. It knows nothing of the session (connection, confirmation) nor of
 * applying; a transaction is handed over only at its commit.
 */
export class CdcChangeExtractor {
  private readonly byTable = new Map<string, CollectionRuntime[]>();
  private readonly byName = new Map<string, CollectionRuntime>();
  private decoder = new PgoutputDecoder();
  private open: CdcTransaction | undefined;
  /** Event ids stay unique across sessions of the same consumer. */
  private sequence = 0;

  constructor(collections: readonly CollectionRuntime[]) {
    for (const collection of collections) {
      if (collection.definition.revisioned) this.byName.set(collection.name, collection);
      const key = tableKey(collection.definition);
      this.byTable.set(key, [...(this.byTable.get(key) ?? []), collection]);
    }
  }

  get collections(): string[] {
    return [...this.byTable.values()].flat().map((collection) => collection.name);
  }

  /** The commit time of a transaction received in part (its changes are not applied yet). */
  get openSince(): Date | undefined {
    return this.open?.commitTime;
  }

  /**
   * A new session: the server resends everything not confirmed, so a transaction half received
   * in the old one is dropped, and relations are announced again.
   */
  reset(): void {
    this.decoder = new PgoutputDecoder();
    this.open = undefined;
  }

  /** Feeds one message of the stream; returns the transaction its commit completes, if any. */
  accept(payload: Buffer): CdcTransaction | undefined {
    const message = this.decoder.decode(payload);
    switch (message.tag) {
      case 'begin':
        this.open = { xid: message.xid, endLsn: 0n, commitTime: message.commitTime, events: [] };
        break;
      case 'insert':
        if (this.revision(message.relation, message.newTuple)) break;
        this.record(message.relation, (collection) =>
          this.rowEvent('upsert', collection, message.relation, message.newTuple),
        );
        break;
      case 'update':
        if (this.revision(message.relation, message.newTuple)) break;
        // The old key arrives only when the key changed: the row left that id behind.
        if (message.oldTuple) {
          const oldTuple = message.oldTuple;
          this.record(message.relation, (collection) => {
            const oldId = tupleId(message.relation, oldTuple, collection.definition);
            const newId = tupleId(message.relation, message.newTuple, collection.definition);
            return oldId !== undefined && oldId !== newId
              ? this.rowEvent('delete', collection, message.relation, oldTuple)
              : undefined;
          });
        }
        this.record(message.relation, (collection) =>
          this.rowEvent('upsert', collection, message.relation, message.newTuple),
        );
        break;
      case 'delete':
        this.record(message.relation, (collection) =>
          this.rowEvent('delete', collection, message.relation, message.oldTuple),
        );
        break;
      case 'truncate':
        for (const relation of message.relations) {
          this.record(relation, (collection) => ({
            ...this.baseEvent(collection),
            tenant: '',
            sourceId: '',
            op: 'truncate',
            sourceVersion: null,
          }));
        }
        break;
      case 'commit': {
        const done = this.open;
        this.open = undefined;
        if (done) done.endLsn = message.endLsn;
        return done;
      }
      default:
        break;
    }
    return undefined;
  }

  /**
   * A document revision written by the triggers of a collection's related tables: that document
   * changed. True when the message was one (whether or not it concerns a streamed collection).
   */
  private revision(relation: Relation, tuple: Parameters<typeof tupleText>[1]): boolean {
    if (`${relation.schema}.${relation.name}` !== DOCUMENT_REVISIONS_TABLE) return false;
    const collection = this.byName.get(tupleText(relation, tuple, 'collection') ?? '');
    const id = tupleText(relation, tuple, 'id');
    if (collection && id !== undefined && this.open)
      this.open.events.push({
        ...this.baseEvent(collection),
        tenant: null,
        sourceId: id,
        op: 'upsert',
        sourceVersion: null,
      });
    return true;
  }

  private record(
    relation: Relation,
    build: (collection: CollectionRuntime) => ChangeEvent | undefined,
  ): void {
    const collections = this.byTable.get(`${relation.schema}.${relation.name}`);
    if (!collections || !this.open) return;
    for (const collection of collections) {
      const event = build(collection);
      if (event) this.open.events.push(event);
    }
  }

  private baseEvent(
    collection: CollectionRuntime,
  ): Pick<ChangeEvent, 'eventId' | 'collection' | 'capturedAt'> & { origin: string } {
    return {
      eventId: `cdc-${++this.sequence}`,
      collection: collection.name,
      origin: 'cdc',
      ...(this.open ? { capturedAt: this.open.commitTime } : {}),
    };
  }

  /**
   * The event of one streamed row. The applier re-reads the row for an upsert, so unchanged
   * TOASTed columns never matter; for a delete under the default replica identity only the key
   * is known (tenant and version come out null).
   */
  private rowEvent(
    op: 'upsert' | 'delete',
    collection: CollectionRuntime,
    relation: Relation,
    tuple: Parameters<typeof tupleText>[1],
  ): ChangeEvent | undefined {
    const { definition } = collection;
    const id = tupleId(relation, tuple, definition);
    if (id === undefined) return undefined;
    return {
      ...this.baseEvent(collection),
      tenant: tupleText(relation, tuple, definition.tenantColumn.name) ?? null,
      sourceId: id,
      op,
      // A document with relations has a version the row alone does not tell (its revision is
      // not in the row): unknown, which the applier knows how to handle.
      sourceVersion: definition.revisioned
        ? null
        : parseVersion(definition, tupleText(relation, tuple, definition.versionColumn.name)),
    };
  }
}

function tableKey(definition: CollectionDefinition): string {
  return `${definition.table.schema}.${definition.table.name}`;
}

/** The version column's text (from the WAL) as the same bigint the SQL version expression gives. */
export function parseVersion(definition: CollectionDefinition, text: string | undefined): number | null {
  if (text === undefined) return null;
  if (definition.versionKind === 'integer') {
    const value = Number(text.split('.')[0]);
    return Number.isSafeInteger(value) ? value : null;
  }
  return timestampMicros(text);
}

/** '2026-11-21 22:15:03.123456+00' → microseconds since the epoch, exactly (no Date rounding). */
export function timestampMicros(text: string): number | null {
  const match =
    /^(\d{4,})-(\d{2})-(\d{2})[ T](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,6}))?(?:([+-])(\d{2})(?::?(\d{2}))?(?::?(\d{2}))?)?$/.exec(
      text,
    );
  if (!match) return null;
  const [
    ,
    year,
    month,
    day,
    hour,
    minute,
    second,
    fraction = '',
    sign,
    offsetHours = '0',
    offsetMinutes = '0',
    offsetSeconds = '0',
  ] = match;
  const seconds =
    Date.UTC(Number(year), Number(month) - 1, Number(day), Number(hour), Number(minute), Number(second)) /
    1000;
  const offset = sign
    ? (sign === '-' ? -1 : 1) *
      (Number(offsetHours) * 3600 + Number(offsetMinutes) * 60 + Number(offsetSeconds))
    : 0;
  return (seconds - offset) * 1_000_000 + Number(fraction.padEnd(6, '0'));
}

/**
 * The canonical id of a streamed tuple: the key columns' text forms (pgoutput sends each in its
 * type's output form, which is what `::text` gives for the key types allowed), encoded as in SQL.
 * Undefined when a key column is absent from the tuple.
 */
function tupleId(
  relation: Relation,
  tuple: Parameters<typeof tupleText>[1],
  definition: CollectionDefinition,
): string | undefined {
  const parts: string[] = [];
  for (const column of definition.keyColumns) {
    const text = tupleText(relation, tuple, column.name);
    if (text === undefined) return undefined;
    parts.push(text);
  }
  return encodeCanonicalId(parts);
}
