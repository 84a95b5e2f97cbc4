import type { Database, ListenSession } from '../db/database.js';
import type { Logger } from '../logger.js';
import { backoffDelay } from './backoff.js';

export interface NotifyListenerOptions {
  db: Database;
  channel: string;
  onNotification: (payload: string) => void;
  /** Called after every (re)connect: notifications sent while disconnected are lost, so poll now. */
  onConnected: () => void;
  heartbeatMs: number;
  reconnectMaxMs: number;
  logger: Logger;
}

/**
 * A dedicated LISTEN connection that stays up: a heartbeat detects silent connection loss,
 * and reconnects back off exponentially with jitter up to a cap. NOTIFY is only a latency
 * hint; the worker's sweep stays the source of truth.
 */
export class NotifyListener {
  private session: ListenSession | undefined;
  private heartbeat: NodeJS.Timeout | undefined;
  private reconnectTimer: NodeJS.Timeout | undefined;
  private stopped = false;
  private failures = 0;
  connected = false;

  constructor(private readonly options: NotifyListenerOptions) {}

  async start(): Promise<void> {
    await this.connect();
  }

  private async connect(): Promise<void> {
    if (this.stopped) return;
    try {
      const session = await this.options.db.openListenSession();
      if (this.stopped) {
        await session.close();
        return;
      }
      session.onLost((error) => this.handleLost(session, error));
      await session.listen(this.options.channel, this.options.onNotification);
      if (this.stopped) {
        // stop() ran while LISTEN was under way: it found no session to close.
        await session.close();
        return;
      }
      this.session = session;
      this.connected = true;
      if (this.failures > 0)
        this.options.logger.info({ channel: this.options.channel }, 'LISTEN connection restored');
      this.failures = 0;
      this.heartbeat = setInterval(() => {
        session.ping().catch((error: Error) => this.handleLost(session, error));
      }, this.options.heartbeatMs);
      this.heartbeat.unref();
      this.options.onConnected();
    } catch (error) {
      this.scheduleReconnect(error as Error);
    }
  }

  private handleLost(session: ListenSession, error: Error): void {
    if (this.session !== session) return;
    this.session = undefined;
    this.connected = false;
    clearInterval(this.heartbeat);
    void session.close();
    this.scheduleReconnect(error);
  }

  private scheduleReconnect(error: Error): void {
    if (this.stopped) return;
    this.failures++;
    const delay = backoffDelay(this.failures, 100, this.options.reconnectMaxMs);
    this.options.logger.warn(
      { channel: this.options.channel, err: error.message, retryInMs: delay },
      'LISTEN connection lost; reconnecting',
    );
    this.reconnectTimer = setTimeout(() => void this.connect(), delay);
    this.reconnectTimer.unref();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.connected = false;
    clearInterval(this.heartbeat);
    clearTimeout(this.reconnectTimer);
    const session = this.session;
    this.session = undefined;
    await session?.close();
  }
}
