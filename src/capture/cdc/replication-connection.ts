import { EventEmitter } from 'node:events';
import pg from 'pg';
import { formatLsn, type Lsn } from './lsn.js';
import { dateToPostgresTime } from './pgoutput-decoder.js';

export interface ReplicationConnectionEvents {
  /** WAL data: the pgoutput payload and the position it starts at. */
  data: [{ walStart: Lsn; walEnd: Lsn; payload: Buffer }];
  /** The server's keepalive: its current WAL end, and whether it wants an answer now. */
  keepalive: [{ walEnd: Lsn; replyRequested: boolean }];
  error: [Error];
  end: [];
}

/**
 * One logical replication session (a `replication=database` connection in COPY BOTH mode).
 * It only decodes the transport: XLogData, primary keepalives, and standby status updates that
 * report exactly the LSN the caller says was durably applied, never more.
 */
export class ReplicationConnection extends EventEmitter<ReplicationConnectionEvents> {
  private client: pg.Client | undefined;
  private streaming: Promise<unknown> | undefined;
  private closed = false;

  constructor(private readonly connectionConfig: pg.ClientConfig) {
    super();
  }

  async start(slot: string, publication: string, from: Lsn): Promise<void> {
    const client = new pg.Client({ ...this.connectionConfig, replication: 'database' } as pg.ClientConfig);
    this.client = client;
    client.on('error', (error) => this.emit('error', error));
    await client.connect();
    const connection = (client as unknown as { connection: EventEmitter }).connection;
    connection.on('copyData', ({ chunk }: { chunk: Buffer }) => this.onCopyData(chunk));
    const command = `START_REPLICATION SLOT ${pg.escapeIdentifier(slot)} LOGICAL ${formatLsn(from)} (proto_version '1', publication_names ${pg.escapeLiteral(pg.escapeIdentifier(publication))})`;
    // The query only settles when the stream ends; errors after start arrive here too.
    this.streaming = client.query(command).then(
      () => this.emit('end'),
      (error: Error) => {
        if (!this.closed) this.emit('error', error);
        this.emit('end');
      },
    );
  }

  private onCopyData(chunk: Buffer): void {
    const kind = chunk[0];
    if (kind === 0x77) {
      // 'w' XLogData: walStart, walEnd, sendTime, then the plugin's payload.
      this.emit('data', {
        walStart: chunk.readBigUInt64BE(1),
        walEnd: chunk.readBigUInt64BE(9),
        payload: chunk.subarray(25),
      });
    } else if (kind === 0x6b) {
      // 'k' primary keepalive: walEnd, sendTime, replyRequested.
      this.emit('keepalive', { walEnd: chunk.readBigUInt64BE(1), replyRequested: chunk[17] === 1 });
    }
  }

  /** Standby status update: written = flushed = applied = `lsn` (what the caller has durably applied). */
  sendStatus(lsn: Lsn, replyRequested = false): void {
    const message = Buffer.alloc(34);
    message[0] = 0x72; // 'r'
    message.writeBigUInt64BE(lsn, 1);
    message.writeBigUInt64BE(lsn, 9);
    message.writeBigUInt64BE(lsn, 17);
    message.writeBigInt64BE(dateToPostgresTime(new Date()), 25);
    message[33] = replyRequested ? 1 : 0;
    const connection = (
      this.client as unknown as { connection?: { sendCopyFromChunk(buffer: Buffer): void } } | undefined
    )?.connection;
    connection?.sendCopyFromChunk(message);
  }

  /** Stops reading from the socket (back-pressure); the server waits, nothing is lost. */
  pause(): void {
    (
      this.client as unknown as { connection?: { stream?: { pause(): void } } } | undefined
    )?.connection?.stream?.pause();
  }

  resume(): void {
    (
      this.client as unknown as { connection?: { stream?: { resume(): void } } } | undefined
    )?.connection?.stream?.resume();
  }

  async close(): Promise<void> {
    this.closed = true;
    const client = this.client;
    this.client = undefined;
    if (!client) return;
    try {
      // CopyDone ends the stream cleanly; the server then finishes the START_REPLICATION command.
      (client as unknown as { connection?: { endCopyFrom?(): void } }).connection?.endCopyFrom?.();
    } catch {
      // the connection may already be gone
    }
    await Promise.race([
      client.end().catch(() => undefined),
      new Promise((resolve) => setTimeout(resolve, 2000)),
    ]);
    await Promise.race([
      this.streaming?.catch(() => undefined),
      new Promise((resolve) => setTimeout(resolve, 100)),
    ]);
  }
}
