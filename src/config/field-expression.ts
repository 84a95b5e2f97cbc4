import { ErrorCode, VectorsyncError } from '../errors.js';

/**
 * What a text template placeholder, a keyword field or a payload value names: a column of the
 * source table (`name`), a column one or two relations away (`brand.name`,
 * `category.parent.name`), optionally aggregated: `variants.color | distinct` (a list without
 * repeats), `variants | count` (how many related rows).
 */
export interface FieldExpression {
  /** The canonical text (`variants.color|distinct`): the key of its value in a source row. */
  readonly key: string;
  /** Relation names, then the column (absent for a count). */
  readonly path: readonly string[];
  readonly aggregate?: 'distinct' | 'count';
}

export const MAX_RELATION_HOPS = 2;
const identifier = '[A-Za-z_][A-Za-z0-9_]*';
/** The text of an expression inside a template's braces (validated by parseFieldExpression). */
export const FIELD_EXPRESSION_SOURCE = `${identifier}(?:\\s*\\.\\s*${identifier})*(?:\\s*\\|\\s*${identifier})?`;
const expressionPattern = new RegExp(`^\\s*(${FIELD_EXPRESSION_SOURCE})\\s*$`);
const aggregates = new Set(['distinct', 'count']);

export function parseFieldExpression(text: string): FieldExpression {
  const match = expressionPattern.exec(text);
  if (!match) {
    throw new VectorsyncError(
      ErrorCode.ConfigInvalid,
      `"${text}" is not a field: use a column ("name"), a relation's column ("brand.name"), optionally with "| distinct", or "relation | count"`,
      { details: { field: text } },
    );
  }
  const [pathText, aggregateText] = match[1]!.split('|').map((part) => part.trim());
  const path = pathText!.split('.').map((part) => part.trim());
  const aggregate = aggregateText;
  if (aggregate !== undefined && !aggregates.has(aggregate)) {
    throw new VectorsyncError(
      ErrorCode.ConfigInvalid,
      `"${text}": unknown aggregate "${aggregate}" (use distinct or count)`,
      { details: { field: text } },
    );
  }
  const hops = aggregate === 'count' ? path.length : path.length - 1;
  if (hops > MAX_RELATION_HOPS) {
    throw new VectorsyncError(
      ErrorCode.ConfigInvalid,
      `"${text}" goes ${hops} relations deep; at most ${MAX_RELATION_HOPS} are supported`,
      { details: { field: text } },
    );
  }
  const key = `${path.join('.')}${aggregate ? `|${aggregate}` : ''}`;
  return aggregate ? { key, path, aggregate: aggregate as 'distinct' | 'count' } : { key, path };
}
