import { ErrorCode, isVectorsyncError } from '../errors.js';

/**
 * Exponential backoff with "equal jitter": half the delay is fixed, half random, so retries
 * of many events spread out but none comes back immediately.
 */
export function backoffDelay(
  attempt: number,
  baseMs: number,
  maxMs: number,
  random: () => number = Math.random,
): number {
  const exponential = Math.min(maxMs, baseMs * 2 ** Math.max(0, attempt - 1));
  return Math.round(exponential / 2 + random() * (exponential / 2));
}

/** The wait a transient error asks for (EMBEDDER_RATE_LIMITED, EMBEDDING_BUDGET_EXHAUSTED), or 0. */
export function requestedWaitMs(error: Error): number {
  const wait = isVectorsyncError(error) ? error.details.retryAfterMs : undefined;
  // Whole milliseconds: the outbox stores delays as integers.
  return typeof wait === 'number' && Number.isFinite(wait) && wait > 0 ? Math.ceil(wait) : 0;
}

/**
 * A transient failure that names its own wait and concerns only its collection (or tenant): a
 * rate-limited provider, a spent budget. It defers the work; it does not mean a store is down.
 */
export function isDeferral(error: Error): boolean {
  return (
    isVectorsyncError(error) &&
    (error.code === ErrorCode.EmbedderRateLimited || error.code === ErrorCode.EmbeddingBudgetExhausted)
  );
}
