import { LRUCache } from 'lru-cache';
import type { SqlExecutor } from '../db/database.js';
import { type ApiKeyLookup, hashApiKey, lookUpApiKey, touchApiKey } from './api-keys.js';

export interface ApiKeyAuthenticatorOptions {
  /** How long a lookup's answer (a key's principal, or its refusal) is reused; 0: never. */
  cacheMs: number;
  /** Milliseconds on any monotonic scale; tests pass their own to expire entries without waiting. */
  now?: () => number;
}

/** Entries per cache: a few MB at most, whatever a client sends. */
const maxEntries = 10_000;
/** last_used_at is for humans auditing keys: once a minute per key is plenty. */
const touchIntervalMs = 60_000;

/**
 * Authenticates presented API keys, remembering each answer for `cacheMs`, so that a busy key
 * (or a client retrying a bad one) costs a query per interval, not per request.
 *
 * Entries are keyed by the SHA-256 of the whole presented key, never by its prefix: a wrong
 * secret with a known prefix has another hash, misses, and is checked against the database
 * with the constant-time comparison. Accepted and refused keys live in separate caches, so a
 * flood of random keys can evict only other refusals, never a working key.
 *
 * A key revoked through this object (`forget`) stops working at once; one revoked elsewhere
 * (`vectorsync keys revoke` runs in its own process) keeps working here for up to `cacheMs`.
 */
export class ApiKeyAuthenticator {
  private readonly accepted: LRUCache<string, Extract<ApiKeyLookup, { ok: true }>> | undefined;
  private readonly refused: LRUCache<string, Extract<ApiKeyLookup, { ok: false }>> | undefined;
  private readonly lastTouched = new Map<number, number>();
  private readonly now: () => number;

  constructor(
    private readonly db: SqlExecutor,
    options: ApiKeyAuthenticatorOptions,
  ) {
    this.now = options.now ?? (() => performance.now());
    if (options.cacheMs > 0) {
      // ttlResolution 0: check the clock on every read (an injected clock moves in jumps).
      const cacheOptions = {
        max: maxEntries,
        ttl: options.cacheMs,
        ttlResolution: 0,
        perf: { now: this.now },
      };
      this.accepted = new LRUCache(cacheOptions);
      this.refused = new LRUCache(cacheOptions);
    }
  }

  async authenticate(presented: string | undefined): Promise<ApiKeyLookup> {
    const hash = presented ? hashApiKey(presented).toString('base64') : undefined;
    const cached = hash === undefined ? undefined : (this.accepted?.get(hash) ?? this.refused?.get(hash));
    const lookup = cached ?? (await lookUpApiKey(this.db, presented));
    if (!cached && hash !== undefined) {
      if (lookup.ok) this.accepted?.set(hash, lookup);
      // Missing and malformed keys cost no query; caching them would only take space.
      else if (lookup.lookedUp) this.refused?.set(hash, lookup);
    }
    if (lookup.ok) this.touch(lookup.principal.keyId);
    return lookup;
  }

  /** Drops every cached answer about the key with this prefix (it was revoked or changed here). */
  forget(prefix: string): void {
    for (const cache of [this.accepted, this.refused]) {
      if (!cache) continue;
      const stale = [...cache.entries()].filter(([, lookup]) => lookup.prefix === prefix);
      for (const [hash] of stale) cache.delete(hash);
    }
  }

  private touch(keyId: number): void {
    const now = this.now();
    const last = this.lastTouched.get(keyId);
    if (last !== undefined && last > now - touchIntervalMs) return;
    this.lastTouched.set(keyId, now);
    void touchApiKey(this.db, keyId).catch(() => undefined);
  }
}
