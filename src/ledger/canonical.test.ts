import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { canonicalJson, type JsonValue } from './canonical.ts';

const json = fc.jsonValue() as fc.Arbitrary<JsonValue>;

/** The same value with every object's keys in reverse order. */
function reversed(value: JsonValue): JsonValue {
  if (Array.isArray(value)) return value.map(reversed);
  if (typeof value === 'object' && value !== null)
    return Object.fromEntries(
      Object.entries(value)
        .reverse()
        .map(([key, item]) => [key, reversed(item)]),
    );
  return value;
}

describe('canonical JSON', () => {
  it('round-trips: parsing the encoding and encoding again gives the same text', () => {
    fc.assert(
      fc.property(json, (value) => {
        const text = canonicalJson(value);
        expect(canonicalJson(JSON.parse(text))).toBe(text);
        expect(JSON.parse(text)).toEqual(JSON.parse(JSON.stringify(value)));
      }),
      { seed: 11, numRuns: 500 },
    );
  });

  it('does not depend on key order', () => {
    fc.assert(
      fc.property(json, (value) => {
        expect(canonicalJson(reversed(value))).toBe(canonicalJson(value));
      }),
      { seed: 12, numRuns: 500 },
    );
  });

  it('sorts keys and refuses what is not JSON', () => {
    expect(canonicalJson({ b: 1, a: [true, null, 'x'], c: { z: 0, y: -1.5 } })).toBe(
      '{"a":[true,null,"x"],"b":1,"c":{"y":-1.5,"z":0}}',
    );
    for (const bad of [Number.NaN, Infinity, undefined, () => 1, new Date(0), { a: undefined }, 10n])
      expect(() => canonicalJson(bad)).toThrow();
  });
});
