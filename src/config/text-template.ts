import { ErrorCode, VectorsyncError } from '../errors.js';

/**
 * The embedding input template: literal text with `{{column}}` placeholders. Null values
 * render as empty text; whitespace left behind by them is collapsed.
 */
export interface TextTemplate {
  source: string;
  fields: string[];
  render(row: Record<string, unknown>): string;
}

const placeholder = /\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}/g;

export function parseTextTemplate(source: string): TextTemplate {
  const parts: Array<string | { field: string }> = [];
  const fields: string[] = [];
  let last = 0;
  for (const match of source.matchAll(placeholder)) {
    parts.push(source.slice(last, match.index));
    const field = match[1]!;
    parts.push({ field });
    if (!fields.includes(field)) fields.push(field);
    last = match.index + match[0].length;
  }
  parts.push(source.slice(last));
  if (fields.length === 0) {
    throw new VectorsyncError(
      ErrorCode.ConfigInvalid,
      `text template "${source}" has no {{column}} placeholder`,
    );
  }
  return {
    source,
    fields,
    render(row) {
      let text = '';
      for (const part of parts) text += typeof part === 'string' ? part : formatValue(row[part.field]);
      return text.replace(/\s+/g, ' ').trim();
    },
  };
}

function formatValue(value: unknown): string {
  if (value === null || value === undefined) return '';
  if (value instanceof Date) return value.toISOString();
  if (Array.isArray(value)) return value.map(formatValue).join(', ');
  if (typeof value === 'object') return JSON.stringify(value);
  return String(value);
}
