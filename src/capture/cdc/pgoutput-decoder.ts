import type { Lsn } from './lsn.js';

/**
 * Decoder for the pgoutput logical replication protocol, version 1
 * (https://www.postgresql.org/docs/current/protocol-logicalrep-message-formats.html).
 * Tuple values arrive as text; an unchanged TOASTed value arrives as a marker, never as data,
 * and is reported as `unchanged` so nobody mistakes it for the value.
 */
export type TupleValue = { kind: 'null' } | { kind: 'unchanged' } | { kind: 'text'; text: string };

export interface RelationColumn {
  name: string;
  typeOid: number;
  isKey: boolean;
}

export interface Relation {
  oid: number;
  schema: string;
  name: string;
  /** d (default: primary key), n (nothing), f (full), i (index). */
  replicaIdentity: string;
  columns: RelationColumn[];
}

export type PgoutputMessage =
  | { tag: 'begin'; finalLsn: Lsn; commitTime: Date; xid: number }
  | { tag: 'commit'; commitLsn: Lsn; endLsn: Lsn; commitTime: Date }
  | { tag: 'relation'; relation: Relation }
  | { tag: 'insert'; relation: Relation; newTuple: TupleValue[] }
  | {
      tag: 'update';
      relation: Relation;
      oldTuple?: TupleValue[];
      oldKind?: 'key' | 'full';
      newTuple: TupleValue[];
    }
  | { tag: 'delete'; relation: Relation; oldTuple: TupleValue[]; oldKind: 'key' | 'full' }
  | { tag: 'truncate'; relations: Relation[]; cascade: boolean; restartIdentity: boolean }
  | { tag: 'origin' | 'type' | 'message' };

/** Microseconds between the Unix epoch and the Postgres epoch (2000-01-01). */
const POSTGRES_EPOCH_MS = 946_684_800_000;

export function postgresTimeToDate(microseconds: bigint): Date {
  return new Date(POSTGRES_EPOCH_MS + Number(microseconds / 1000n));
}

export function dateToPostgresTime(date: Date): bigint {
  return BigInt(date.getTime() - POSTGRES_EPOCH_MS) * 1000n;
}

class Reader {
  private offset = 0;
  constructor(private readonly buffer: Buffer) {}

  byte(): number {
    return this.buffer.readUInt8(this.offset++);
  }
  int16(): number {
    const value = this.buffer.readInt16BE(this.offset);
    this.offset += 2;
    return value;
  }
  int32(): number {
    const value = this.buffer.readInt32BE(this.offset);
    this.offset += 4;
    return value;
  }
  uint32(): number {
    const value = this.buffer.readUInt32BE(this.offset);
    this.offset += 4;
    return value;
  }
  int64(): bigint {
    const value = this.buffer.readBigInt64BE(this.offset);
    this.offset += 8;
    return value;
  }
  uint64(): bigint {
    const value = this.buffer.readBigUInt64BE(this.offset);
    this.offset += 8;
    return value;
  }
  string(): string {
    const end = this.buffer.indexOf(0, this.offset);
    const value = this.buffer.toString('utf8', this.offset, end);
    this.offset = end + 1;
    return value;
  }
  bytes(length: number): Buffer {
    const value = this.buffer.subarray(this.offset, this.offset + length);
    this.offset += length;
    return value;
  }
}

export class PgoutputDecoder {
  private readonly relations = new Map<number, Relation>();

  decode(payload: Buffer): PgoutputMessage {
    const reader = new Reader(payload);
    const tag = String.fromCharCode(reader.byte());
    switch (tag) {
      case 'B':
        return {
          tag: 'begin',
          finalLsn: reader.uint64(),
          commitTime: postgresTimeToDate(reader.int64()),
          xid: reader.uint32(),
        };
      case 'C': {
        reader.byte(); // flags, unused
        return {
          tag: 'commit',
          commitLsn: reader.uint64(),
          endLsn: reader.uint64(),
          commitTime: postgresTimeToDate(reader.int64()),
        };
      }
      case 'R': {
        const oid = reader.uint32();
        const schema = reader.string();
        const name = reader.string();
        const replicaIdentity = String.fromCharCode(reader.byte());
        const count = reader.int16();
        const columns: RelationColumn[] = [];
        for (let i = 0; i < count; i++) {
          const flags = reader.byte();
          const columnName = reader.string();
          const typeOid = reader.uint32();
          reader.int32(); // type modifier
          columns.push({ name: columnName, typeOid, isKey: (flags & 1) === 1 });
        }
        // A relation message replaces the cached one: this is how a schema change arrives.
        const relation = { oid, schema, name, replicaIdentity, columns };
        this.relations.set(oid, relation);
        return { tag: 'relation', relation };
      }
      case 'I': {
        const relation = this.relation(reader.uint32());
        reader.byte(); // 'N'
        return { tag: 'insert', relation, newTuple: this.tuple(reader) };
      }
      case 'U': {
        const relation = this.relation(reader.uint32());
        let marker = String.fromCharCode(reader.byte());
        let oldTuple: TupleValue[] | undefined;
        let oldKind: 'key' | 'full' | undefined;
        if (marker === 'K' || marker === 'O') {
          oldKind = marker === 'K' ? 'key' : 'full';
          oldTuple = this.tuple(reader);
          marker = String.fromCharCode(reader.byte());
        }
        return {
          tag: 'update',
          relation,
          ...(oldTuple ? { oldTuple, oldKind } : {}),
          newTuple: this.tuple(reader),
        };
      }
      case 'D': {
        const relation = this.relation(reader.uint32());
        const marker = String.fromCharCode(reader.byte());
        return {
          tag: 'delete',
          relation,
          oldKind: marker === 'K' ? 'key' : 'full',
          oldTuple: this.tuple(reader),
        };
      }
      case 'T': {
        const count = reader.int32();
        const options = reader.byte();
        const relations: Relation[] = [];
        for (let i = 0; i < count; i++) relations.push(this.relation(reader.uint32()));
        return {
          tag: 'truncate',
          relations,
          cascade: (options & 1) === 1,
          restartIdentity: (options & 2) === 2,
        };
      }
      case 'O':
        return { tag: 'origin' };
      case 'Y':
        return { tag: 'type' };
      case 'M':
        return { tag: 'message' };
      default:
        throw new Error(`unknown pgoutput message "${tag}"`);
    }
  }

  private relation(oid: number): Relation {
    const relation = this.relations.get(oid);
    if (!relation) throw new Error(`pgoutput: change for relation ${oid} before its relation message`);
    return relation;
  }

  private tuple(reader: Reader): TupleValue[] {
    const count = reader.int16();
    const values: TupleValue[] = [];
    for (let i = 0; i < count; i++) {
      const kind = String.fromCharCode(reader.byte());
      if (kind === 'n') values.push({ kind: 'null' });
      else if (kind === 'u') values.push({ kind: 'unchanged' });
      else if (kind === 't')
        values.push({ kind: 'text', text: reader.bytes(reader.int32()).toString('utf8') });
      else throw new Error(`pgoutput: unknown tuple value kind "${kind}"`);
    }
    return values;
  }
}

/** The text of a named column in a tuple, or undefined when it is null, unchanged (TOAST) or absent. */
export function tupleText(
  relation: Relation,
  tuple: TupleValue[] | undefined,
  column: string,
): string | undefined {
  if (!tuple) return undefined;
  const index = relation.columns.findIndex((candidate) => candidate.name === column);
  const value = index >= 0 ? tuple[index] : undefined;
  return value?.kind === 'text' ? value.text : undefined;
}
