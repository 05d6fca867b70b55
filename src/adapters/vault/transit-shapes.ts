import type { BatchItem } from './schemas';

/**
 * Hand-written checks of the three Transit answers on the request path, each
 * accepting only what its zod schema in schemas.ts accepts (and reading the
 * same fields). zod's parse costs 6 to 9 µs of CPU per request; these cost
 * well under one. Anything they do not recognise goes to the zod schema, which
 * stays the one place that defines the shapes and words the errors.
 */
type Json = Record<string, unknown>;

function dataOf(body: unknown): Json | undefined {
  if (typeof body !== 'object' || body === null) return undefined;
  const data = (body as Json).data;
  return typeof data === 'object' && data !== null && !Array.isArray(data) ? (data as Json) : undefined;
}

function isKeyVersion(v: unknown): v is number | undefined {
  return v === undefined || (typeof v === 'number' && Number.isInteger(v) && v >= 0);
}

/** `{data: {plaintext}}`, or undefined when the body needs the full schema. */
export function fastDecryptData(body: unknown): { data: { plaintext: string } } | undefined {
  const plaintext = dataOf(body)?.plaintext;
  return typeof plaintext === 'string' ? { data: { plaintext } } : undefined;
}

/** `{data: {ciphertext, key_version?}}`, or undefined when the body needs the full schema. */
export function fastEncryptData(body: unknown): { data: { ciphertext: string; key_version?: number } } | undefined {
  const data = dataOf(body);
  if (!data) return undefined;
  const { ciphertext, key_version } = data;
  if (typeof ciphertext !== 'string' || ciphertext.length === 0 || !isKeyVersion(key_version)) return undefined;
  return { data: key_version === undefined ? { ciphertext } : { ciphertext, key_version } };
}

const optionalString = (v: unknown) => v === undefined || typeof v === 'string';

/** The `batch_results` items, or undefined when the body needs the full schema. */
export function fastBatchResults(body: unknown): BatchItem[] | undefined {
  const results = dataOf(body)?.batch_results;
  if (!Array.isArray(results)) return undefined;
  const out: BatchItem[] = new Array(results.length);
  for (let i = 0; i < results.length; i++) {
    const r: unknown = results[i];
    if (typeof r !== 'object' || r === null || Array.isArray(r)) return undefined;
    const { ciphertext, plaintext, key_version, error } = r as Json;
    if (!optionalString(ciphertext) || !optionalString(plaintext) || !optionalString(error) || !isKeyVersion(key_version)) return undefined;
    const item: { ciphertext?: string; plaintext?: string; key_version?: number; error?: string } = {};
    if (ciphertext !== undefined) item.ciphertext = ciphertext as string;
    if (plaintext !== undefined) item.plaintext = plaintext as string;
    if (key_version !== undefined) item.key_version = key_version;
    if (error !== undefined) item.error = error as string;
    out[i] = item;
  }
  return out;
}
