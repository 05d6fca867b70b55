/**
 * Turning encrypt/decrypt request bodies into a list of items, single or
 * batch, with Vault's split between request-level errors (400), malformed
 * batch items (500 "failed to parse batch input") and per-item errors.
 */
import type { Reply, ResponseSite } from './envelope';
import { batchStatusReply, errorReply, multiErrorText, okReply } from './envelope';
import { RequestBody, has, readInt, readString } from './request-fields';

export interface TransitItem {
  readonly text: string; // plaintext (encrypt) or ciphertext (decrypt)
  readonly context: string;
  readonly associatedData: string;
  readonly keyVersion: number;
  readonly reference: string;
}

export type ItemsResult =
  | { readonly ok: true; readonly batch: boolean; readonly items: TransitItem[] }
  | { readonly ok: false; readonly reply: Reply };

/** How mapstructure names a JSON value's Go type in its error messages. */
function goTypeName(value: unknown): string {
  if (Array.isArray(value)) return '[]interface {}';
  switch (typeof value) {
    case 'number':
      return 'json.Number';
    case 'boolean':
      return 'bool';
    case 'object':
      return 'map[string]interface {}';
    default:
      return 'string';
  }
}

function batchParseFailure(detail: string): ItemsResult {
  return { ok: false, reply: errorReply(500, multiErrorText(`failed to parse batch input: ${detail}`)) };
}

function itemString(item: Record<string, unknown>, index: number, field: string): string | { error: string } {
  const value = item[field];
  if (value === undefined || value === null) return '';
  if (typeof value === 'string') return value;
  return { error: `'[${index}].${field}' expected type 'string', got unconvertible type '${goTypeName(value)}', value: '${JSON.stringify(value)}'` };
}

/** Batch items accept only JSON numbers for key_version (a string is a 500, unlike top-level fields). */
function itemInt(item: Record<string, unknown>, index: number, field: string): number | { error: string } {
  const value = item[field];
  if (value === undefined || value === null) return 0;
  if (typeof value === 'number' && Number.isInteger(value)) return value;
  if (typeof value === 'number') return { error: `cannot parse '[${index}].${field}' as int: strconv.ParseInt: parsing "${value}": invalid syntax` };
  return { error: `'[${index}].${field}' expected type 'int', got unconvertible type '${goTypeName(value)}', value: '${String(value)}'` };
}

/**
 * `textField` is "plaintext" or "ciphertext"; `missingMessage` is the
 * request-level message when it is absent in single mode.
 */
export function readTransitItems(body: RequestBody, textField: string, missingMessage: string): ItemsResult {
  const rawBatch = body.batch_input;
  if (rawBatch === undefined || rawBatch === null) {
    if (!has(body, textField)) return { ok: false, reply: errorReply(400, missingMessage) };
    return {
      ok: true,
      batch: false,
      items: [
        {
          text: readString(body, textField),
          context: readString(body, 'context'),
          associatedData: readString(body, 'associated_data'),
          keyVersion: readInt(body, 'key_version'),
          reference: '',
        },
      ],
    };
  }
  if (!Array.isArray(rawBatch)) {
    return batchParseFailure(`'' expected type '[]interface {}', got unconvertible type '${goTypeName(rawBatch)}'`);
  }
  if (rawBatch.length === 0) return { ok: false, reply: errorReply(400, 'missing batch input to process') };
  const items: TransitItem[] = [];
  for (let i = 0; i < rawBatch.length; i++) {
    const raw: unknown = rawBatch[i];
    if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
      return batchParseFailure(`'[${i}]' expected a map, got '${goTypeName(raw)}'`);
    }
    const item = raw as Record<string, unknown>;
    if (item[textField] === undefined) {
      return batchParseFailure(`'[${i}].${textField}' ${missingMessage}`);
    }
    const text = itemString(item, i, textField);
    const context = itemString(item, i, 'context');
    const associatedData = itemString(item, i, 'associated_data');
    const reference = itemString(item, i, 'reference');
    const keyVersion = itemInt(item, i, 'key_version');
    for (const parsed of [text, context, associatedData, reference, keyVersion]) {
      if (typeof parsed === 'object') return batchParseFailure(parsed.error);
    }
    items.push({
      text: text as string,
      context: context as string,
      associatedData: associatedData as string,
      reference: reference as string,
      keyVersion: keyVersion as number,
    });
  }
  return { ok: true, batch: true, items };
}

/**
 * batchRequestResponse: 200 when nothing failed; otherwise 400 (user error)
 * or 500 (internal), optionally replaced by partial_failure_response_code
 * when at least one item succeeded.
 */
export function batchReply(
  site: ResponseSite,
  body: RequestBody,
  results: readonly Record<string, unknown>[],
  outcome: { readonly userError: boolean; readonly internalError: boolean; readonly anySuccess: boolean },
): Reply {
  const data = { batch_results: results };
  if (!outcome.userError && !outcome.internalError) return okReply(site, data);
  let status = outcome.userError ? 400 : 500;
  const warnings: string[] = [];
  if (has(body, 'partial_failure_response_code') && outcome.anySuccess) {
    const override = readInt(body, 'partial_failure_response_code');
    if (override < 1 || override > 599) {
      warnings.push(`invalid HTTP response code override from partial_failure_response_code, reverting to ${status}`);
    } else {
      status = override;
    }
  }
  return batchStatusReply(site, status, data, warnings);
}
