import type { Embedder, EmbedUsage } from '../embedders/embedder.js';
import type { TextEmbedding } from '../pipeline/embed-documents.js';
import type { BudgetGate } from './budget-gate.js';
import type { EmbeddingLedger, UsageEntry } from './embedding-ledger.js';
import type { SpendLane } from './embedding-prices.js';

/** What meters embedding spend in a process: the ledger and the budgets. */
export interface SpendMeter {
  ledger: EmbeddingLedger;
  gate: BudgetGate;
}

/** An embedder a provider bills by the token: it can say what a text will cost. */
export type BilledEmbedder = Embedder & {
  readonly billed: true;
  estimateTokens(texts: readonly string[]): { tokens: number; exact: boolean };
};

export function isBilled(embedder: Embedder): embedder is BilledEmbedder {
  const candidate = embedder as Partial<BilledEmbedder>;
  return candidate.billed === true && typeof candidate.estimateTokens === 'function';
}

/**
 * Embedding of one batch of documents through a billed provider, metered: texts are sent only
 * for tenants whose budgets allow it (the others answer with the budget's error), what the
 * provider billed is split over the tenants by their share of the characters sent, and the
 * texts the cache answered are recorded as savings when the batch is done.
 */
export class MeteredBatch {
  private readonly sent = new Set<string>();
  private readonly entries = new Map<string, UsageEntry>();

  constructor(
    private readonly meter: SpendMeter,
    private readonly collection: string,
    private readonly embedder: BilledEmbedder,
    /** The tenants whose documents need each text (a text shared by tenants is embedded once). */
    private readonly tenantsByText: ReadonlyMap<string, readonly string[]>,
    private readonly lane: SpendLane = 'sync',
  ) {}

  /** Embeds the texts whose tenants may spend; a text of stopped tenants only gets their error. */
  async embed(texts: readonly string[]): Promise<TextEmbedding[]> {
    for (const text of texts) this.sent.add(text);
    const tenants = [...new Set(texts.flatMap((text) => this.tenantsByText.get(text) ?? ['']))];
    const stopped = await this.meter.gate.blocked(this.collection, this.embedder.modelId, tenants);
    const payer = new Map<string, string>();
    const answers = new Map<string, TextEmbedding>();
    for (const text of texts) {
      const candidates = this.tenantsByText.get(text) ?? [''];
      const allowed = candidates.find((tenant) => !stopped.has(tenant));
      if (allowed === undefined) answers.set(text, stopped.get(candidates[0]!)!);
      else payer.set(text, allowed);
    }
    const allowed = [...payer.keys()];
    if (allowed.length > 0) {
      const usages: EmbedUsage[] = [];
      let vectors: Float32Array[];
      try {
        vectors = await this.embedder.embed(allowed, { onUsage: (usage) => usages.push(usage) });
      } finally {
        // A call that failed part way was still billed for the requests that were answered.
        this.charge(allowed, payer, usages);
      }
      allowed.forEach((text, index) => {
        const vector = vectors[index];
        if (vector) answers.set(text, vector);
      });
    }
    return texts.map(
      (text) => answers.get(text) ?? new Error(`embedder ${this.embedder.modelId} returned no vector`),
    );
  }

  /** Records the batch: what was billed, and each text the cache answered (never sent) as a saving. */
  finish(allTexts: Iterable<string>, options: { cacheAnswered: boolean }): void {
    const cachedByTenant = new Map<string, string[]>();
    // A batch that failed before the cache answered has no savings to count, only what it was billed.
    // Distinct texts: one cache answer serves every document that shares it, as one request would.
    for (const text of options.cacheAnswered ? new Set(allTexts) : []) {
      if (this.sent.has(text)) continue;
      const tenant = this.tenantsByText.get(text)?.[0] ?? '';
      const list = cachedByTenant.get(tenant) ?? [];
      list.push(text);
      cachedByTenant.set(tenant, list);
    }
    for (const [tenant, texts] of cachedByTenant) {
      const entry = this.entry(tenant);
      entry.cachedTexts += texts.length;
      entry.cachedTokens += this.embedder.estimateTokens(texts).tokens;
    }
    for (const entry of this.entries.values()) this.meter.ledger.record(entry);
    this.entries.clear();
  }

  private charge(
    texts: readonly string[],
    payer: ReadonlyMap<string, string>,
    usages: readonly EmbedUsage[],
  ): void {
    if (usages.length === 0) return;
    const tokens = usages.reduce((sum, usage) => sum + usage.tokens, 0);
    const estimated = usages.reduce((sum, usage) => sum + (usage.estimated ? usage.tokens : 0), 0);
    const requests = usages.reduce((sum, usage) => sum + usage.requests, 0);
    const charsByTenant = new Map<string, { chars: number; texts: number }>();
    let totalChars = 0;
    for (const text of texts) {
      const tenant = payer.get(text)!;
      const share = charsByTenant.get(tenant) ?? { chars: 0, texts: 0 };
      share.chars += text.length + 1;
      share.texts++;
      charsByTenant.set(tenant, share);
      totalChars += text.length + 1;
    }
    // Integer tokens that add up to the billed total: the largest share takes the rounding.
    const shares = [...charsByTenant].sort((a, b) => b[1].chars - a[1].chars);
    let tokensLeft = tokens;
    let estimatedLeft = estimated;
    shares.forEach(([tenant, share], index) => {
      const last = index === shares.length - 1;
      const fraction = share.chars / totalChars;
      const tenantTokens = last ? tokensLeft : Math.round(tokens * fraction);
      const tenantEstimated = last ? estimatedLeft : Math.round(estimated * fraction);
      tokensLeft -= tenantTokens;
      estimatedLeft -= tenantEstimated;
      const entry = this.entry(tenant);
      entry.tokens += tenantTokens;
      entry.estimatedTokens += tenantEstimated;
      entry.texts += share.texts;
      if (index === 0) entry.requests += requests;
    });
  }

  private entry(tenant: string): UsageEntry {
    let entry = this.entries.get(tenant);
    if (!entry) {
      entry = {
        collection: this.collection,
        tenant,
        model: this.embedder.modelId,
        lane: this.lane,
        requests: 0,
        texts: 0,
        tokens: 0,
        estimatedTokens: 0,
        cachedTexts: 0,
        cachedTokens: 0,
      };
      this.entries.set(tenant, entry);
    }
    return entry;
  }
}
