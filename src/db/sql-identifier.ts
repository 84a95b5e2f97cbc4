/** Quotes one SQL identifier (table, column, schema) so any name is safe to splice into SQL. */
export function quoteIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

export interface QualifiedName {
  schema: string;
  name: string;
}

/** Parses `schema.table` or `table` (default schema `public`); quoted parts are honoured. */
export function parseQualifiedName(input: string, defaultSchema = 'public'): QualifiedName {
  const parts: string[] = [];
  let current = '';
  let quoted = false;
  for (let i = 0; i < input.length; i++) {
    const char = input[i]!;
    if (quoted) {
      if (char === '"' && input[i + 1] === '"') {
        current += '"';
        i++;
      } else if (char === '"') quoted = false;
      else current += char;
    } else if (char === '"') quoted = true;
    else if (char === '.') {
      parts.push(current);
      current = '';
    } else current += char.toLowerCase();
  }
  parts.push(current);
  if (parts.length === 1) return { schema: defaultSchema, name: parts[0]! };
  if (parts.length === 2) return { schema: parts[0]!, name: parts[1]! };
  throw new Error(`"${input}" is not a table name of the form schema.table`);
}

export function qualified(name: QualifiedName): string {
  return `${quoteIdent(name.schema)}.${quoteIdent(name.name)}`;
}

/** A literal for the rare places where SQL cannot take a parameter (DDL, trigger arguments). */
export function quoteLiteral(value: string): string {
  return `'${value.replace(/'/g, "''")}'`;
}

/**
 * A dollar-quoted SQL body whose tag cannot occur in it: identifiers quoted by quoteIdent may
 * hold any text, `$tag$` included, which would end a fixed tag early.
 */
export function dollarQuote(body: string, tag: string): string {
  let delimiter = `$${tag}$`;
  for (let n = 1; body.includes(delimiter); n++) delimiter = `$${tag}_${n}$`;
  return `${delimiter}${body}${delimiter}`;
}
