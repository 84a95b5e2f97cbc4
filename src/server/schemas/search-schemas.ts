import { z } from 'zod';
import {
  MAX_CHUNKS_PER_HIT,
  MAX_K,
  MAX_QUERY_CHARS,
  type SearchMode,
  searchModes,
} from '../../search/search-service.js';
import { booleanText, integerText, oneOf } from './common-schemas.js';

const mode = oneOf(searchModes as [SearchMode, ...SearchMode[]]).describe('Default hybrid');
const fusion = oneOf(['rrf', 'weighted']).describe("Overrides the collection's fusion");
const normalization = oneOf(['minmax', 'zscore']).describe('Score normalisation of weighted fusion');
// The length is documented here and checked by the search, whose error names the limit.
// Required: every mode searches for a text (the search refuses an empty one, naming "q").
const query = z
  .string({ error: (issue) => (issue.input === undefined ? 'is required' : 'must be a string') })
  .meta({ maxLength: MAX_QUERY_CHARS })
  .describe('The query text');
const cursor = z.string({ error: 'must be a string' }).max(1024).describe('`next` of the previous page');
const filterDescription = 'A filter on the payload fields (docs/search.md#filters)';
const chunksDescription = `A chunked collection: the best chunks each hit carries, 1 to ${MAX_CHUNKS_PER_HIT} (default 1)`;

/** `GET …/search`: every parameter is text; unknown parameters are refused, as in the body. */
export const searchQuerystringSchema = z.strictObject({
  q: query,
  mode: mode.optional(),
  k: integerText.optional().describe(`Hits per page, 1 to ${MAX_K} (default 10)`),
  offset: integerText.optional().describe('Hits to skip (or `cursor`)'),
  cursor: cursor.optional(),
  filter: z.string().optional().describe(`${filterDescription}, as JSON text`),
  explain: booleanText.optional(),
  chunks: integerText.optional().describe(chunksDescription),
  fusion: fusion.optional(),
  rrf_k: integerText.optional(),
  w_semantic: z.string().optional().describe('Weight of the dense signal, a decimal number ≥ 0'),
  w_keyword: z.string().optional().describe('Weight of the keyword signal, a decimal number ≥ 0'),
  normalization: normalization.optional(),
});

/** `POST …/search`: the same fields as JSON values of their own types. */
export const searchBodySchema = z
  .strictObject({
    q: query,
    mode: mode.optional(),
    k: z
      .int({ error: 'must be an integer' })
      .optional()
      .describe(`Hits per page, 1 to ${MAX_K} (default 10)`),
    offset: z.int({ error: 'must be an integer' }).optional(),
    cursor: cursor.optional(),
    filter: z
      .union([z.record(z.string(), z.unknown()), z.string()])
      .optional()
      .describe(filterDescription),
    explain: z.boolean({ error: 'must be true or false' }).optional(),
    chunks: z.int({ error: 'must be an integer' }).optional().describe(chunksDescription),
    fusion: fusion.optional(),
    rrf_k: z.int({ error: 'must be an integer' }).optional(),
    w_semantic: z.number({ error: 'must be a number' }).optional(),
    w_keyword: z.number({ error: 'must be a number' }).optional(),
    normalization: normalization.optional(),
  })
  .meta({ id: 'SearchRequest' });

export type SearchBody = z.infer<typeof searchBodySchema>;

const signal = z.object({ rank: z.int(), score: z.number() }).nullable();

export const searchResponseSchema = z
  .object({
    collection: z.string(),
    mode,
    k: z.int(),
    offset: z.int(),
    hits: z.array(
      z.object({
        id: z.string().describe("The document's canonical id"),
        score: z.number(),
        version: z.number(),
        payload: z.record(z.string(), z.unknown()).describe("The collection's payload fields"),
        chunks: z
          .array(
            z.object({
              ordinal: z.int(),
              start: z.int().describe("Offset of the chunk's first character in the document's text"),
              end: z.int(),
              text: z.string(),
              context: z.string().optional().describe('The headings above the chunk (markdown)'),
              score: z.number(),
            }),
          )
          .optional()
          .describe("A chunked collection's matching chunks, best first"),
        explain: z
          .object({
            fusion: z.string().optional(),
            signals: z.object({ semantic: signal.optional(), keyword: signal.optional() }),
            chunk: z.int().optional().describe('The ordinal of the chunk that matched'),
          })
          .optional(),
      }),
    ),
    next: z.string().nullable().describe('Pass as `cursor` for the next page; null when there is none'),
    tookMs: z.number(),
  })
  .meta({ id: 'SearchResponse' });
