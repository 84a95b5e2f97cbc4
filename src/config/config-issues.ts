import type { z } from 'zod';
import { didYouMean } from './did-you-mean.js';

/**
 * What zod exposes of a schema's definition, as far as finding the keys and values a config
 * path allows is concerned.
 */
interface SchemaDef {
  type: string;
  shape?: Record<string, SchemaNode>;
  valueType?: SchemaNode;
  innerType?: SchemaNode;
  options?: readonly SchemaNode[];
  discriminator?: string;
  element?: SchemaNode;
  values?: readonly unknown[];
  in?: SchemaNode;
}
interface SchemaNode {
  _zod: { def: SchemaDef };
}

/**
 * One line per zod issue, naming the key path and, for a misspelt key or value, the closest
 * one the schema allows: `sync.wake: "notfy" is not one of "notify", "poll" (did you mean "notify"?)`.
 */
export function describeConfigIssue(issue: z.core.$ZodIssue, raw: unknown, schema: z.ZodType): string[] {
  const root = schema as unknown as SchemaNode;
  const path = issue.path.map(String).join('.') || '(root)';
  const value = valueAt(raw, issue.path);
  if (issue.code === 'unrecognized_keys') {
    const container = valueAt(raw, issue.path);
    const present = container && typeof container === 'object' ? Object.keys(container) : [];
    const allowed = objectKeysAt(root, issue.path, raw).filter((key) => !present.includes(key));
    return issue.keys.map(
      (key) => `${path === '(root)' ? key : `${path}.${key}`}: unknown key${didYouMean(key, allowed)}`,
    );
  }
  if (issue.code === 'invalid_union' && 'discriminator' in issue && issue.discriminator) {
    const discriminator = String(issue.discriminator);
    // zod 4 puts the discriminator at the end of the path already; older versions did not.
    const at = issue.path.at(-1) === discriminator ? path : `${path}.${discriminator}`;
    const given = issue.path.at(-1) === discriminator ? value : valueAt(value, [discriminator]);
    const options = ('options' in issue ? (issue.options as unknown[]) : []).map(String);
    if (given === undefined) return [`${at}: required (one of ${quoteAll(options)})`];
    return [`${at}: ${quote(given)} is not one of ${quoteAll(options)}${suggestFor(given, options)}`];
  }
  if (issue.code === 'invalid_value') {
    const options = issue.values.map(String);
    if (value === undefined) return [`${path}: required (one of ${quoteAll(options)})`];
    return [`${path}: ${quote(value)} is not one of ${quoteAll(options)}${suggestFor(value, options)}`];
  }
  if (issue.code === 'invalid_union') {
    // e.g. analyzer.stopwords: "english", "none" or a list of words; suggest among the names.
    const options = issue.errors
      .flat()
      .flatMap((inner) => (inner.code === 'invalid_value' ? inner.values : []));
    return [`${path}: ${issue.message}${suggestFor(value, options.map(String))}`];
  }
  if (issue.code === 'invalid_type' && value === undefined) return [`${path}: required (${issue.expected})`];
  return [`${path}: ${issue.message}`];
}

function suggestFor(value: unknown, options: string[]): string {
  return typeof value === 'string' && options.length > 0 ? didYouMean(value, options) : '';
}

function quote(value: unknown): string {
  return typeof value === 'string' ? `"${value}"` : (JSON.stringify(value) ?? String(value));
}

function quoteAll(values: string[]): string {
  return values.map((value) => `"${value}"`).join(', ');
}

function valueAt(raw: unknown, path: readonly PropertyKey[]): unknown {
  let current = raw;
  for (const key of path) {
    if (current === null || typeof current !== 'object') return undefined;
    current = (current as Record<PropertyKey, unknown>)[key];
  }
  return current;
}

/** The keys the object schema at `path` allows ([] when the path does not lead to one). */
function objectKeysAt(root: SchemaNode, path: readonly PropertyKey[], raw: unknown): string[] {
  let node: SchemaNode | undefined = root;
  let value = raw;
  for (const key of path) {
    node = resolve(node, value);
    const def: SchemaDef | undefined = node?._zod.def;
    if (!def) return [];
    if (def.type === 'object') node = def.shape?.[String(key)];
    else if (def.type === 'record') node = def.valueType;
    else if (def.type === 'array') node = def.element;
    else return [];
    value = valueAt(value, [key]);
  }
  const def = resolve(node, value)?._zod.def;
  return def?.type === 'object' ? Object.keys(def.shape ?? {}) : [];
}

/** Unwraps defaults, optionals and pipes; picks a union's member by the value's discriminator. */
function resolve(node: SchemaNode | undefined, value: unknown): SchemaNode | undefined {
  let current = node;
  for (let depth = 0; current && depth < 10; depth++) {
    const def: SchemaDef = current._zod.def;
    if ((def.type === 'default' || def.type === 'optional') && def.innerType) current = def.innerType;
    else if (def.type === 'pipe' && def.in) current = def.in;
    else if (def.type === 'union' && def.discriminator) {
      const given = valueAt(value, [def.discriminator]);
      current = def.options?.find((option) =>
        option._zod.def.shape?.[def.discriminator!]?._zod.def.values?.includes(given),
      );
    } else return current;
  }
  return current;
}
