import { createWriteStream, type WriteStream } from 'node:fs';
import pg from 'pg';
import { type ChaosRandom, toastText, words } from './chaos-random.js';

export const TENANTS = ['acme', 'globex', 'initech'] as const;
export const CATEGORIES = ['tops', 'shoes', 'outerwear', 'accessories', null] as const;

export const ITEMS_TABLE_SQL = `
CREATE TABLE public.items (
  id text PRIMARY KEY,
  tenant text NOT NULL,
  title text,
  body text,
  category text,
  price numeric(10, 2),
  version bigint NOT NULL DEFAULT 0
)`;

export interface WorkloadStats {
  committed: number;
  rolledBack: number;
  /** Statements or commits that failed (server restarts, deadlocks): their outcome is whatever the source says. */
  errors: number;
  byAction: Record<string, number>;
}

export interface WorkloadOptions {
  /** Concurrent sessions. */
  sessions: number;
  /** Up to this many rows per bulk statement. */
  bulkMax: number;
  /** Chance that a written body is TOAST-sized (tens of kB, stored out of line). */
  toastChance: number;
  /** Where every committed transaction is logged (JSON lines), for replaying a failure. */
  logPath: string;
  /** Each session's pause between two transactions. */
  pauseMs: number;
}

type Client = pg.Client;

/**
 * A randomized, seeded SQL workload against the source table, written the way applications
 * and people write: plain statements, no vectorsync API. Inserts; updates of text, of the
 * payload only and of nothing but the version; deletes and re-inserts of deleted ids; bursts
 * on one hot id from several sessions at once; multi-statement and multi-row transactions,
 * some rolled back or failing; bulk statements; tenant moves and primary-key changes; TOAST-
 * sized values; rows that cannot be indexed. Errors (a restarting server) are counted and the
 * session reconnects, as an application would.
 */
export class SqlWorkload {
  private running = false;
  private loops: Promise<void>[] = [];
  private readonly log: WriteStream;
  readonly stats: WorkloadStats = { committed: 0, rolledBack: 0, errors: 0, byAction: {} };
  private serial = 0;
  /** Ids some session created or wrote lately; any session may pick them. */
  private readonly known: string[] = [];
  private readonly deleted: string[] = [];
  private readonly hot = ['hot-0', 'hot-1', 'hot-2'];

  constructor(
    private readonly url: string,
    private readonly random: ChaosRandom,
    private readonly options: WorkloadOptions,
  ) {
    this.log = createWriteStream(options.logPath, { flags: 'a' });
  }

  start(): void {
    this.running = true;
    this.loops = Array.from({ length: this.options.sessions }, (_, index) =>
      this.session(index, this.random.fork(index + 1)),
    );
  }

  async stop(): Promise<WorkloadStats> {
    this.running = false;
    await Promise.all(this.loops);
    await new Promise((resolve) => this.log.end(resolve));
    return this.stats;
  }

  /** Runs one statement outside the workload's sessions (the orchestrator's TRUNCATE, ALTER). */
  async statement(action: string, sql: string): Promise<void> {
    const client = await this.connect();
    try {
      await client.query(sql);
      this.record(-1, action, 'commit', [{ sql }]);
    } finally {
      await client.end().catch(() => undefined);
    }
  }

  private async connect(): Promise<Client> {
    const client = new pg.Client({ connectionString: this.url, application_name: 'chaos-workload' });
    client.on('error', () => undefined);
    await client.connect();
    return client;
  }

  private async session(index: number, random: ChaosRandom): Promise<void> {
    let client: Client | undefined;
    while (this.running) {
      try {
        client ??= await this.connect();
        await this.step(client, index, random);
        if (this.options.pauseMs > 0)
          await new Promise((resolve) => setTimeout(resolve, this.options.pauseMs));
      } catch {
        this.stats.errors++;
        await client?.end().catch(() => undefined);
        client = undefined;
        // Back off while the server restarts; the next attempt is what synchronises.
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    }
    await client?.end().catch(() => undefined);
  }

  private newId(index: number): string {
    return `s${index}-${++this.serial}`;
  }

  private someId(random: ChaosRandom): string {
    if (random.chance(0.15)) return random.pick(this.hot);
    return this.known.length > 0 ? random.pick(this.known) : random.pick(this.hot);
  }

  private remember(id: string): void {
    this.known.push(id);
    if (this.known.length > 400) this.known.splice(0, this.known.length - 400);
  }

  private body(random: ChaosRandom): string | null {
    if (random.chance(this.options.toastChance)) return toastText(random, random.int(20_000, 120_000));
    if (random.chance(0.05)) return null;
    return words(random, random.int(3, 30));
  }

  /** A row's values; now and then one with no text at all, which cannot be indexed. */
  private values(random: ChaosRandom): [string, string | null, string | null, string | null, number] {
    const unbuildable = random.chance(0.02);
    return [
      random.pick(TENANTS),
      unbuildable ? null : words(random, random.int(1, 6)),
      unbuildable ? null : this.body(random),
      random.pick(CATEGORIES),
      random.int(100, 99_999) / 100,
    ];
  }

  private async step(client: Client, index: number, random: ChaosRandom): Promise<void> {
    const action = random.weighted({
      insert: 22,
      updateText: 14,
      updatePayload: 10,
      touchVersion: 5,
      delete: 10,
      reinsert: 8,
      hotBurst: 4,
      transaction: 12,
      bulk: 4,
      tenantMove: 6,
      keyChange: 3,
      upsertConflict: 2,
    });
    this.stats.byAction[action] = (this.stats.byAction[action] ?? 0) + 1;
    if (action === 'transaction') {
      await this.transaction(client, index, random);
      return;
    }
    if (action === 'hotBurst') {
      for (let i = random.int(3, 12); i > 0 && this.running; i--)
        await this.run(client, index, 'hotBurst', random);
      return;
    }
    await this.run(client, index, action, random);
  }

  /** Several statements in one transaction; a fifth of them roll back, some fail half-way. */
  private async transaction(client: Client, index: number, random: ChaosRandom): Promise<void> {
    const actions = Array.from({ length: random.int(2, 6) }, () =>
      random.pick([
        'insert',
        'updateText',
        'updatePayload',
        'delete',
        'reinsert',
        'tenantMove',
        'keyChange',
      ] as const),
    );
    const ending = random.weighted({ commit: 75, rollback: 18, fail: 7 });
    await client.query('BEGIN');
    const done: object[] = [];
    try {
      for (const action of actions) done.push(...(await this.statementFor(client, index, action, random)));
      if (ending === 'fail')
        await client.query(`INSERT INTO items (id, tenant) VALUES ('hot-0', 'acme'), ('hot-0', 'acme')`);
      if (ending === 'rollback') {
        await client.query('ROLLBACK');
        this.stats.rolledBack++;
        return;
      }
      await client.query('COMMIT');
      this.stats.committed++;
      this.record(index, 'transaction', 'commit', done);
    } catch (error) {
      await client.query('ROLLBACK').catch(() => undefined);
      if ((error as { code?: string }).code === undefined) throw error;
      // A constraint or deadlock: the transaction is gone; the session goes on.
      this.stats.rolledBack++;
    }
  }

  /** One statement in its own transaction. */
  private async run(client: Client, index: number, action: string, random: ChaosRandom): Promise<void> {
    try {
      const done = await this.statementFor(client, index, action as never, random);
      this.stats.committed++;
      this.record(index, action, 'commit', done);
    } catch (error) {
      if ((error as { code?: string }).code === undefined) throw error;
      this.stats.rolledBack++;
    }
  }

  /** One statement of the given kind; returns the rows it reports, for the log. */
  private async statementFor(
    client: Client,
    index: number,
    action:
      | 'insert'
      | 'updateText'
      | 'updatePayload'
      | 'touchVersion'
      | 'delete'
      | 'reinsert'
      | 'hotBurst'
      | 'bulk'
      | 'tenantMove'
      | 'keyChange'
      | 'upsertConflict',
    random: ChaosRandom,
  ): Promise<object[]> {
    const returning = 'RETURNING id, tenant, version';
    switch (action) {
      case 'insert': {
        const id = this.newId(index);
        const result = await client.query(
          `INSERT INTO items (id, tenant, title, body, category, price) VALUES ($1, $2, $3, $4, $5, $6) ${returning}`,
          [id, ...this.values(random)],
        );
        this.remember(id);
        return result.rows;
      }
      case 'reinsert': {
        const id =
          this.deleted.length > 0
            ? this.deleted.splice(random.int(0, this.deleted.length - 1), 1)[0]!
            : this.newId(index);
        const result = await client.query(
          `INSERT INTO items (id, tenant, title, body, category, price) VALUES ($1, $2, $3, $4, $5, $6)
           ON CONFLICT (id) DO NOTHING ${returning}`,
          [id, ...this.values(random)],
        );
        this.remember(id);
        return result.rows;
      }
      case 'upsertConflict': {
        // One statement that inserts some rows and updates others (both capture paths at once).
        const ids = [random.pick(this.hot), this.someId(random), this.newId(index)];
        const result = await client.query(
          `INSERT INTO items (id, tenant, title, body)
           SELECT x, $2, $3, $4 FROM unnest($1::text[]) AS x
           ON CONFLICT (id) DO UPDATE SET title = EXCLUDED.title, body = EXCLUDED.body ${returning}`,
          [[...new Set(ids)], random.pick(TENANTS), words(random, 3), words(random, 12)],
        );
        for (const id of ids) this.remember(id);
        return result.rows;
      }
      case 'hotBurst':
      case 'updateText': {
        const id = action === 'hotBurst' ? random.pick(this.hot) : this.someId(random);
        if (action === 'hotBurst') {
          // Hot ids exist most of the time: whoever gets there first creates them.
          const result = await client.query(
            `INSERT INTO items (id, tenant, title, body) VALUES ($1, $2, $3, $4)
             ON CONFLICT (id) DO UPDATE SET title = EXCLUDED.title, body = EXCLUDED.body ${returning}`,
            [id, random.pick(TENANTS), words(random, 3), this.body(random)],
          );
          return result.rows;
        }
        const result = await client.query(
          `UPDATE items SET title = $2, body = $3 WHERE id = $1 ${returning}`,
          [id, words(random, random.int(1, 6)), this.body(random)],
        );
        return result.rows;
      }
      case 'updatePayload': {
        const result = await client.query(
          `UPDATE items SET price = $2, category = $3 WHERE id = $1 ${returning}`,
          [this.someId(random), random.int(100, 99_999) / 100, random.pick(CATEGORIES)],
        );
        return result.rows;
      }
      case 'touchVersion': {
        // Nothing changes but the version (the managed version trigger bumps it on any update).
        const result = await client.query(`UPDATE items SET id = id WHERE id = $1 ${returning}`, [
          this.someId(random),
        ]);
        return result.rows;
      }
      case 'delete': {
        const id = this.someId(random);
        const result = await client.query(`DELETE FROM items WHERE id = $1 ${returning}`, [id]);
        if (result.rowCount) this.deleted.push(id);
        return result.rows;
      }
      case 'bulk': {
        const kind = random.pick(['insert', 'update', 'delete'] as const);
        const count = random.int(5, this.options.bulkMax);
        if (kind === 'insert') {
          const ids = Array.from({ length: count }, () => this.newId(index));
          const result = await client.query(
            `INSERT INTO items (id, tenant, title, body, category, price)
             SELECT x, $2, $3 || ' ' || x, $4, $5, $6 FROM unnest($1::text[]) AS x ${returning}`,
            [ids, random.pick(TENANTS), words(random, 2), words(random, 8), random.pick(CATEGORIES), 9.99],
          );
          for (const id of ids) this.remember(id);
          return result.rows;
        }
        const ids = Array.from({ length: count }, () => this.someId(random));
        const result =
          kind === 'update'
            ? await client.query(
                `UPDATE items SET price = price + 1, title = title || '+' WHERE id = ANY($1) ${returning}`,
                [ids],
              )
            : await client.query(`DELETE FROM items WHERE id = ANY($1) ${returning}`, [ids]);
        if (kind === 'delete') for (const row of result.rows) this.deleted.push(String(row.id));
        return result.rows;
      }
      case 'tenantMove': {
        const result = await client.query(`UPDATE items SET tenant = $2 WHERE id = $1 ${returning}`, [
          this.someId(random),
          random.pick(TENANTS),
        ]);
        return result.rows;
      }
      case 'keyChange': {
        const from = this.someId(random);
        const to = this.newId(index);
        const result = await client.query(`UPDATE items SET id = $2 WHERE id = $1 ${returning}`, [from, to]);
        if (result.rowCount) {
          this.remember(to);
          this.deleted.push(from);
        }
        return result.rows;
      }
    }
  }

  private record(session: number, action: string, outcome: string, rows: object[]): void {
    this.log.write(
      `${JSON.stringify({ at: new Date().toISOString(), session, action, outcome, rows: rows.map(truncateLong) })}\n`,
    );
  }
}

function truncateLong(row: object): object {
  return Object.fromEntries(
    Object.entries(row).map(([key, value]) => [
      key,
      typeof value === 'string' && value.length > 200 ? `${value.slice(0, 40)}…(${value.length})` : value,
    ]),
  );
}
