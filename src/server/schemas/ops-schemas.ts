import { z } from 'zod';
import { booleanText, idText, integerText, oneOf } from './common-schemas.js';

export const collectionsResponseSchema = z.object({
  collections: z.array(
    z.object({
      name: z.string(),
      primaryKey: z.union([z.string(), z.array(z.string())]),
      tenantField: z.string(),
      versionField: z.string(),
      fields: z.array(z.object({ name: z.string(), type: z.string(), required: z.boolean() })),
      payloadFields: z.array(z.object({ name: z.string(), type: z.string() })),
      syncMode: z.string(),
      embedder: z.object({ model: z.string(), dimensions: z.int() }),
    }),
  ),
});

export const healthResponseSchema = z.object({ status: z.literal('ok') });

export const readyResponseSchema = z.object({
  status: z.enum(['ready', 'not ready']),
  checks: z.record(
    z.string(),
    z.object({
      ok: z.boolean(),
      code: z.string().optional(),
      error: z.string().optional(),
      detail: z.string().optional().describe('The underlying messages: shown to admin keys only'),
    }),
  ),
});

const spendSummary = z.looseObject({
  requests: z.number(),
  texts: z.number(),
  tokens: z.number(),
  estimatedTokens: z.number().describe('Counted by our tokenizer: the provider did not report them'),
  costUsd: z.number().nullable().describe('Null: no price configured for the model (unknown, not free)'),
  cachedTexts: z.number().describe('Texts the embedding cache answered instead of the provider'),
  savedUsd: z.number().nullable(),
  byLane: z.record(z.string(), z.object({ tokens: z.number(), costUsd: z.number().nullable() })),
});

const budgetStanding = z.looseObject({
  tenant: z.string().describe("'' for the whole collection"),
  period: z.enum(['day', 'month']),
  limitUsd: z.number(),
  spentUsd: z.number(),
  periodStart: z.string(),
  periodEnd: z.string(),
  exhausted: z.boolean(),
  enforced: z
    .boolean()
    .describe("False when the collection's embedder is not billed: the budget caps nothing"),
  paused: z
    .boolean()
    .describe("Embedding for the budget's scope waits (its events are kept, nothing is dropped)"),
  reason: z.string().nullable(),
});

export const syncStatusSchema = z
  .looseObject({
    collections: z.array(
      z.looseObject({
        collection: z.string(),
        spend: z
          .object({ today: spendSummary, month: spendSummary })
          .describe('Embedding tokens and cost from the ledger (UTC day and month)'),
        budgets: z.array(budgetStanding),
      }),
    ),
    workers: z.array(z.looseObject({})),
    cdc: z.looseObject({}).nullable(),
  })
  .describe('Queue depth, age and lag per collection, the workers, and the CDC slot (docs/operations.md)');

const eventStatus = oneOf(['pending', 'processing', 'done', 'failed']);

export const eventsQuerystringSchema = z.strictObject({
  status: eventStatus.optional(),
  collection: z.string().optional(),
  before: idText.optional().describe('`next` of the previous page'),
  limit: integerText.optional().describe('1 to 1,000 (default 100)'),
});

export const eventSchema = z
  .object({
    id: z.string(),
    collection: z.string(),
    tenant: z.string(),
    sourceId: z.string(),
    op: z.string(),
    sourceVersion: z.string().nullable(),
    status: eventStatus,
    origin: z.string(),
    attempts: z.int(),
    lastError: z.string().nullable(),
    lastErrorCode: z.string().nullable(),
    createdAt: z.string(),
    processedAt: z.string().nullable(),
    runAfter: z.string(),
  })
  .meta({ id: 'OutboxEvent' });

export const eventsResponseSchema = z.object({ events: z.array(eventSchema), next: z.string().nullable() });

export const retryBodySchema = z
  .strictObject({
    // Each id is checked by the route (INVALID_FIELD_VALUE naming it): documented here only.
    ids: z
      .array(z.unknown().meta({ type: ['string', 'integer'], pattern: '^\\d{1,19}$' }))
      .optional()
      .describe('Event ids: decimal strings (or safe integers) within bigint'),
    collection: z.string().optional(),
  })
  .nullable()
  .optional();

export const retryResponseSchema = z.object({ retried: z.array(z.string()) });

export const reconcileQuerystringSchema = z.strictObject({
  collection: z.string().optional(),
  tenant: z.string().optional(),
  fix: booleanText.optional(),
  dryRun: booleanText.optional(),
  limit: integerText.optional(),
});

const reconcileReport = z
  .looseObject({
    runId: z.string(),
    collection: z.string(),
    tenant: z.string().nullable(),
    mode: z.string(),
    status: z.string(),
    inSync: z.boolean(),
    counts: z.looseObject({}),
  })
  .meta({ id: 'ReconcileReport' });

export const reconcileRunResponseSchema = z.object({ reports: z.array(reconcileReport) });
export const reconcileAbortResponseSchema = z.object({ aborted: z.array(z.string()) });
export const reconcileRunsResponseSchema = z.object({
  running: z.array(z.string()),
  runs: z.array(z.looseObject({})),
});

export const indexStatusSchema = z
  .looseObject({
    collection: z.string(),
    store: z.string(),
    storeKind: z.string(),
    supported: z.boolean(),
    annIndexes: z.array(z.looseObject({})),
    running: z.looseObject({}).nullable(),
    problems: z.array(z.string()),
  })
  .meta({ id: 'IndexStatus' });

export const indexHistoryQuerystringSchema = z.strictObject({
  limit: integerText.optional().describe('1 to 500 (default 20)'),
  before: idText.optional(),
});

export const indexHistoryResponseSchema = z.object({
  operations: z.array(z.looseObject({})),
  next: z.string().nullable(),
});
