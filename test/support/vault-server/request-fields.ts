/**
 * Reading top-level request fields with Vault's framework leniency
 * (vault-api.md §0.3): ints accept numbers or numeric strings, bools accept
 * Go's ParseBool spellings, durations accept seconds or "1h"-style strings.
 * A value that cannot be converted is a 400, like framework's FieldData.Validate.
 */
import { DurationError, parseDurationSeconds } from './time';

export type RequestBody = Readonly<Record<string, unknown>>;

export class FieldError extends Error {}

const INT_TEXT = /^[+-]?\d+$/;
const TRUE_TEXT = new Set(['1', 't', 'T', 'TRUE', 'true', 'True']);
const FALSE_TEXT = new Set(['0', 'f', 'F', 'FALSE', 'false', 'False']);

function conversionError(field: string, value: unknown, reason: string): FieldError {
  const shown = typeof value === 'string' ? value : JSON.stringify(value);
  return new FieldError(`error converting input ${shown} for field "${field}": ${reason}`);
}

export function has(body: RequestBody, field: string): boolean {
  return body[field] !== undefined && body[field] !== null;
}

export function readInt(body: RequestBody, field: string, fallback = 0): number {
  const value = body[field];
  if (value === undefined || value === null) return fallback;
  if (typeof value === 'number' && Number.isInteger(value)) return value;
  if (typeof value === 'string' && INT_TEXT.test(value.trim())) return Number.parseInt(value.trim(), 10);
  throw conversionError(field, value, 'cannot parse as int');
}

export function readBool(body: RequestBody, field: string, fallback = false): boolean {
  const value = body[field];
  if (value === undefined || value === null) return fallback;
  if (typeof value === 'boolean') return value;
  if (typeof value === 'string' && TRUE_TEXT.has(value)) return true;
  if (typeof value === 'string' && FALSE_TEXT.has(value)) return false;
  if (typeof value === 'number' && (value === 0 || value === 1)) return value === 1;
  throw conversionError(field, value, 'cannot parse as bool');
}

export function readString(body: RequestBody, field: string, fallback = ''): string {
  const value = body[field];
  if (value === undefined || value === null) return fallback;
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  throw conversionError(field, value, 'expected a string');
}

/** Seconds; accepts 3600, "3600" or "1h". */
export function readDuration(body: RequestBody, field: string, fallback = 0): number {
  const value = body[field];
  if (value === undefined || value === null) return fallback;
  try {
    return parseDurationSeconds(value);
  } catch (err) {
    if (err instanceof DurationError) throw conversionError(field, value, err.message);
    throw err;
  }
}

/** Lists accept a JSON array or a comma-separated string ("default,kms"). */
export function readStringList(body: RequestBody, field: string): string[] | undefined {
  const value = body[field];
  if (value === undefined || value === null) return undefined;
  if (typeof value === 'string') {
    return value
      .split(',')
      .map((s) => s.trim())
      .filter((s) => s.length > 0);
  }
  if (Array.isArray(value) && value.every((v) => typeof v === 'string')) {
    return (value as string[]).map((s) => s.trim()).filter((s) => s.length > 0);
  }
  throw conversionError(field, value, 'expected a list of strings');
}

/** A string-to-string map such as token `meta`. */
export function readStringMap(body: RequestBody, field: string): Record<string, string> | undefined {
  const value = body[field];
  if (value === undefined || value === null) return undefined;
  if (typeof value === 'object' && !Array.isArray(value)) {
    const out: Record<string, string> = {};
    for (const [k, v] of Object.entries(value as Record<string, unknown>)) out[k] = String(v);
    return out;
  }
  throw conversionError(field, value, 'expected a map of strings');
}
