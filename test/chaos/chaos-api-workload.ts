import { createWriteStream, type WriteStream } from 'node:fs';
import { type ChaosRandom, toastText, words } from './chaos-random.js';
import { CATEGORIES, TENANTS, type WorkloadStats } from './chaos-workload.js';

/**
 * The dual-write workload: the same kind of randomized changes as the SQL workload, through
 * the documents API (a dual-write collection captures nothing else), with several sessions
 * hammering a few hot ids at once. Tenant moves and key changes cannot be expressed through a
 * tenant-scoped API; a delete followed by a re-create under another tenant stands in for them.
 * Requests that fail because the service is down are counted; their outcome is whatever the
 * source says afterwards.
 */
export class ApiWorkload {
  private running = false;
  private loops: Promise<void>[] = [];
  private readonly log: WriteStream;
  readonly stats: WorkloadStats = { committed: 0, rolledBack: 0, errors: 0, byAction: {} };
  private serial = 0;
  private readonly tenantOf = new Map<string, string>();
  private readonly hot = ['hot-0', 'hot-1', 'hot-2'];
  /** The first 400 answer, for the report: a workload the API keeps refusing tests nothing. */
  firstBadRequest: string | undefined;
  /** The first request that got no answer or a 5xx one, for the same reason. */
  firstError: string | undefined;

  constructor(
    private readonly baseUrl: string,
    private readonly keys: Readonly<Record<string, string>>,
    private readonly random: ChaosRandom,
    private readonly options: { sessions: number; toastChance: number; pauseMs: number; logPath: string },
  ) {
    this.log = createWriteStream(options.logPath, { flags: 'a' });
  }

  start(): void {
    this.running = true;
    this.loops = Array.from({ length: this.options.sessions }, (_, index) =>
      this.session(index, this.random.fork(index + 101)),
    );
  }

  async stop(): Promise<WorkloadStats> {
    this.running = false;
    await Promise.all(this.loops);
    await new Promise((resolve) => this.log.end(resolve));
    return this.stats;
  }

  private async session(index: number, random: ChaosRandom): Promise<void> {
    while (this.running) {
      const action = random.weighted({
        create: 30,
        replace: 20,
        patch: 20,
        delete: 15,
        recreate: 10,
        hot: 5,
      });
      this.stats.byAction[action] = (this.stats.byAction[action] ?? 0) + 1;
      try {
        await this.step(index, action, random);
        if (this.options.pauseMs > 0)
          await new Promise((resolve) => setTimeout(resolve, this.options.pauseMs));
      } catch (error) {
        this.firstError ??= (error as Error).cause
          ? `${(error as Error).message}: ${String(((error as Error).cause as Error).message ?? (error as Error).cause)}`
          : (error as Error).message;
        this.stats.errors++;
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    }
  }

  private document(random: ChaosRandom): Record<string, unknown> {
    return {
      title: words(random, random.int(1, 6)),
      body: random.chance(this.options.toastChance)
        ? toastText(random, random.int(20_000, 60_000))
        : words(random, random.int(3, 30)),
      category: random.pick(CATEGORIES),
      price: random.int(100, 99_999) / 100,
    };
  }

  private someId(random: ChaosRandom): string {
    if (random.chance(0.3) || this.tenantOf.size === 0) return random.pick(this.hot);
    return random.pick([...this.tenantOf.keys()].slice(-300));
  }

  private async step(index: number, action: string, random: ChaosRandom): Promise<void> {
    const collection = '/v1/collections/items/documents';
    if (action === 'create' || action === 'recreate' || action === 'hot') {
      const id = action === 'create' ? `a${index}-${++this.serial}` : this.someId(random);
      const tenant = random.pick(TENANTS);
      const status = await this.call(tenant, 'POST', collection, { id, ...this.document(random) });
      if (status === 201) this.tenantOf.set(id, tenant);
      this.record(action, id, tenant, status);
      return;
    }
    const id = this.someId(random);
    const tenant = this.tenantOf.get(id) ?? random.pick(TENANTS);
    const path = `${collection}/${encodeURIComponent(id)}`;
    const status =
      action === 'replace'
        ? await this.call(tenant, 'PUT', path, { id, ...this.document(random) })
        : action === 'patch'
          ? await this.call(tenant, 'PATCH', path, {
              title: words(random, 2),
              price: random.int(100, 9999) / 100,
            })
          : await this.call(tenant, 'DELETE', path);
    if (action === 'delete' && status === 204) this.tenantOf.delete(id);
    this.record(action, id, tenant, status);
  }

  private async call(tenant: string, method: string, path: string, body?: object): Promise<number> {
    const started = performance.now();
    const response = await fetch(`${this.baseUrl}${path}`, {
      method,
      headers: {
        authorization: `Bearer ${this.keys[tenant]}`,
        ...(body ? { 'content-type': 'application/json' } : {}),
      },
      ...(body ? { body: JSON.stringify(body) } : {}),
    });
    const text = await response.text();
    const key = `http ${method} ${response.status}`;
    this.stats.byAction[key] = (this.stats.byAction[key] ?? 0) + 1;
    this.stats.byAction[`ms ${method}`] =
      (this.stats.byAction[`ms ${method}`] ?? 0) + (performance.now() - started);
    if (response.status === 400 && !this.firstBadRequest) this.firstBadRequest = text.slice(0, 300);
    if (response.status >= 500) throw new Error(`HTTP ${response.status}: ${text.slice(0, 300)}`);
    if (response.status < 300) this.stats.committed++;
    else this.stats.rolledBack++;
    return response.status;
  }

  private record(action: string, id: string, tenant: string, status: number): void {
    this.log.write(`${JSON.stringify({ at: new Date().toISOString(), action, id, tenant, status })}\n`);
  }
}
