import fc from 'fast-check';

/**
 * Values a client should never get past the edge with, or that the edge must handle without
 * surprise: wrong types, sizes around the body limit, NUL bytes, lone surrogates, unicode that
 * normalises or reorders, numbers at the edges of every numeric type, prototype keys, dates
 * Postgres reads differently from ISO 8601, and text shaped like SQL or other syntaxes.
 */
export const hostileStrings: readonly string[] = [
  '',
  ' ',
  '\u0000',
  'a\u0000b',
  '\ud800',
  'x\udfffy',
  '\udbff\udbff',
  '🙂'.repeat(8),
  'e\u0301',
  '\u202eevil',
  'ｆｕｌｌ',
  '\r\n',
  'x'.repeat(10_000),
  'y'.repeat(70_000),
  '1e308',
  '-1e308',
  '1e999',
  '-0',
  'NaN',
  'Infinity',
  '0x10',
  '0b11',
  '1_000',
  '+1',
  ' 1',
  '1.5',
  '٣',
  '9223372036854775807',
  '9223372036854775808',
  '9999999999999999999',
  '99999999999999999999999',
  '-9223372036854775809',
  '9007199254740993',
  '__proto__',
  'constructor',
  'prototype',
  'toString',
  'hasOwnProperty',
  '1',
  '2020-02-30T00:00:00Z',
  '2020-13-01',
  'infinity',
  '-infinity',
  'epoch',
  'now',
  'allballs',
  '0000-01-01T00:00:00Z',
  '10000-01-01T00:00:00Z',
  "'; DROP TABLE products; --",
  '") OR 1=1 --',
  '$1',
  '"',
  '\\',
  '%',
  '%ff',
  '%00',
  '../..',
  '{"and":[]}',
  '{"__proto__":{"polluted":true}}',
  `${'{"not":'.repeat(2000)}{}${'}'.repeat(2000)}`,
  '[]',
  '{}',
  'null',
  'true',
  '00000000-0000-0000-0000-00000000000g',
];

const protoPollution = () =>
  JSON.parse('{"__proto__":{"polluted":true},"constructor":{"prototype":{"polluted":true}}}');

function nested(depth: number): unknown {
  let value: unknown = 1;
  for (let level = 0; level < depth; level++) value = level % 2 === 0 ? [value] : { a: value };
  return value;
}

/** A hostile string: a fixed one, or random text from the whole code point range. */
export const hostileString: fc.Arbitrary<string> = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom(...hostileStrings) },
  { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 40 }) },
);

/** A hostile JSON value for a body field (or a whole body). */
export const hostileValue: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 4, arbitrary: hostileString },
  {
    weight: 3,
    arbitrary: fc.constantFrom<unknown>(
      1e308,
      -1e308,
      -0,
      0.1,
      2 ** 53 + 2,
      -(2 ** 63),
      2 ** 63,
      1e21,
      -1,
      true,
      false,
      null,
      [],
      {},
      [null],
      ['a', 1, null, {}],
      Array.from({ length: 2000 }, (_, i) => i),
    ),
  },
  { weight: 1, arbitrary: fc.constantFrom(30, 300).map(nested) },
  { weight: 1, arbitrary: fc.constant(null).map(protoPollution) },
  { weight: 2, arbitrary: fc.jsonValue({ maxDepth: 3 }) },
);

/** Keys that no schema declares, some of which mean something to a careless object merge. */
export const hostileKey: fc.Arbitrary<string> = fc.oneof(
  fc.constantFrom(
    '__proto__',
    'constructor',
    'prototype',
    'toString',
    'unknown_field',
    '',
    ' ',
    '\u0000',
    'a.b',
    '$where',
  ),
  fc.string({ maxLength: 12 }),
);

/** Sets `key` as an own property, even `__proto__` (plain assignment would set the prototype). */
export function withOwnKey(
  target: Record<string, unknown>,
  key: string,
  value: unknown,
): Record<string, unknown> {
  Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true });
  return target;
}

/** Raw path segments, already percent-encoded (or deliberately not). */
export const hostileSegment: fc.Arbitrary<string> = fc.oneof(
  fc.constantFrom(
    '%ff',
    '%',
    '%2',
    '%e0%a4%a',
    '..',
    '.',
    '%2e%2e',
    '%2F',
    'a%2Fb',
    '%00',
    '',
    '%20',
    '~',
    '*',
  ),
  hostileString.map(encodeSegment),
  fc.constantFrom(5_000, 20_000).map((length) => 'i'.repeat(length)),
);

/**
 * encodeURIComponent, except that a lone surrogate (which it refuses) becomes its CESU-8
 * bytes: a segment that no UTF-8 decoder accepts, as a hostile client would send.
 */
export function encodeSegment(text: string): string {
  return text.replace(/[\ud800-\udfff]|[^\ud800-\udfff]+/g, (part) =>
    /^[\ud800-\udfff]$/.test(part) ? '%ED%A0%80' : encodeURIComponent(part),
  );
}

/** Whole query-string pieces that no schema describes. */
export const hostileQueryPiece: fc.Arbitrary<string> = fc.oneof(
  fc.constantFrom(
    '%ff=1',
    'k=%ff',
    '__proto__=1',
    '__proto__[polluted]=1',
    'constructor=x',
    'k[]=1',
    '=',
    '&&',
    'q',
    'a=%00',
  ),
  fc.tuple(hostileKey, hostileString).map(([key, value]) => `${encodeSegment(key)}=${encodeSegment(value)}`),
);

/** Request bodies that are not the JSON the route wants, with a content type. */
export const hostileRawBody: fc.Arbitrary<{ payload: string; contentType?: string }> = fc.oneof(
  fc
    .constantFrom(
      '{',
      '{"a":',
      '{"k": NaN}',
      '{"k": Infinity}',
      '{"k": 1e999}',
      '{"k": 99999999999999999999999}',
      '{"k": -0}',
      '{"a":1,"a":2}',
      '',
      'null',
      '[]',
      '"text"',
      '123',
      '\ufeff{}',
      `${'['.repeat(10_000)}${']'.repeat(10_000)}`,
      `{"filter":${'{"not":'.repeat(5_000)}{}${'}'.repeat(5_000)}}`,
      '{"__proto__":{"polluted":true}}',
      '{"constructor":{"prototype":{"polluted":true}}}',
      `{"q":"${'z'.repeat(70_000)}"}`,
    )
    .map((payload) => ({ payload, contentType: 'application/json' })),
  fc
    .tuple(
      fc.constantFrom('{}', 'a=1', '<x/>', '\u0000'),
      fc.constantFrom(
        'text/plain',
        'application/x-www-form-urlencoded',
        'application/json; charset=latin1',
        'application/xml',
        'multipart/form-data; boundary=x',
        undefined,
      ),
    )
    .map(([payload, contentType]) => ({ payload, ...(contentType ? { contentType } : {}) })),
);
