/**
 * JSON encoding that reproduces what Go's encoding/json puts on the wire,
 * because clients (and the Go conformance harness) compare bytes, not values.
 *
 * - Go marshals map[string]interface{} with keys sorted byte-wise. A JS object
 *   cannot hold "10" before "2" (integer-like keys are always iterated in
 *   numeric order), so maps are wrapped in GoMap and sorted at encode time.
 * - Plain objects stand for Go structs: their insertion order is kept, and
 *   `undefined` fields are skipped (that is how `omitempty` is expressed here).
 * - Go escapes <, >, &, U+2028 and U+2029 in strings.
 */

/** A Go map: encoded with keys sorted the way Go sorts them. */
export class GoMap {
  constructor(readonly fields: Readonly<Record<string, unknown>>) {}
}

// Module-level so the hot path never compiles a regex per response.
const GO_ESCAPED_CHARS = /[<>&\u2028\u2029]/g;
const GO_ESCAPES: Record<string, string> = {
  '<': '\\u003c',
  '>': '\\u003e',
  '&': '\\u0026',
  '\u2028': '\\u2028',
  '\u2029': '\\u2029',
};

function escapeForGo(char: string): string {
  return GO_ESCAPES[char] ?? char;
}

function compareBytewise(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function encodeFields(fields: Readonly<Record<string, unknown>>, keys: readonly string[]): string {
  let out = '{';
  let first = true;
  for (const key of keys) {
    const value = fields[key];
    if (value === undefined) continue;
    out += (first ? '' : ',') + JSON.stringify(key) + ':' + encodeValue(value);
    first = false;
  }
  return out + '}';
}

function encodeValue(value: unknown): string {
  if (value === null || value === undefined) return 'null';
  switch (typeof value) {
    case 'string':
      return JSON.stringify(value);
    case 'number':
      return Number.isFinite(value) ? String(value) : 'null';
    case 'boolean':
      return value ? 'true' : 'false';
    default:
      break;
  }
  if (Array.isArray(value)) {
    let out = '[';
    for (let i = 0; i < value.length; i++) out += (i === 0 ? '' : ',') + encodeValue(value[i]);
    return out + ']';
  }
  if (value instanceof GoMap) {
    return encodeFields(value.fields, Object.keys(value.fields).sort(compareBytewise));
  }
  const fields = value as Record<string, unknown>;
  return encodeFields(fields, Object.keys(fields));
}

/** Go's json.Marshal output for `value` (no trailing newline). */
export function goMarshal(value: unknown): string {
  return applyGoEscapes(encodeValue(value));
}

/** Already-encoded JSON text gets Go's HTML-safe escaping applied. */
export function applyGoEscapes(json: string): string {
  return json.replace(GO_ESCAPED_CHARS, escapeForGo);
}

/** Encode one value without the final escaping pass (for building larger documents). */
export function encodeGoFragment(value: unknown): string {
  return encodeValue(value);
}
