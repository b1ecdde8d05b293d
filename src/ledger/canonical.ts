/**
 * Canonical JSON: object keys sorted by UTF-16 code units, no whitespace, numbers and strings as
 * `JSON.stringify` writes them (the same rules as RFC 8785 for the values we allow). Two equal
 * values always give the same bytes, which the entry hash and signature depend on.
 */
export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };

export class CanonicalError extends Error {
  override name = 'CanonicalError';
}

const MAX_DEPTH = 32;

export function canonicalJson(value: unknown): string {
  return encode(value, 0);
}

function encode(value: unknown, depth: number): string {
  if (depth > MAX_DEPTH) throw new CanonicalError(`nested deeper than ${MAX_DEPTH} levels`);
  if (value === null) return 'null';
  switch (typeof value) {
    case 'boolean':
      return value ? 'true' : 'false';
    case 'number':
      if (!Number.isFinite(value)) throw new CanonicalError('numbers must be finite');
      // -0 and 0 are the same JSON number; JSON.stringify already writes "0" for both.
      return JSON.stringify(value);
    case 'string':
      return JSON.stringify(value);
    case 'object': {
      if (Array.isArray(value)) return `[${value.map((item) => encode(item, depth + 1)).join(',')}]`;
      const prototype = Object.getPrototypeOf(value) as unknown;
      if (prototype !== Object.prototype && prototype !== null)
        throw new CanonicalError('only plain objects, arrays, strings, numbers, booleans and null');
      const record = value as Record<string, unknown>;
      const keys = Object.keys(record).sort();
      const parts: string[] = [];
      for (const key of keys) {
        const item = record[key];
        if (item === undefined) throw new CanonicalError(`field "${key}" is undefined`);
        parts.push(`${JSON.stringify(key)}:${encode(item, depth + 1)}`);
      }
      return `{${parts.join(',')}}`;
    }
    default:
      throw new CanonicalError(`a ${typeof value} is not JSON`);
  }
}

/** Parses JSON text and returns it as a JsonValue (JSON.parse output is always canonicalisable). */
export function parseJson(text: string): JsonValue {
  return JSON.parse(text) as JsonValue;
}
