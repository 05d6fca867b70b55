/**
 * POST encrypt/:name and decrypt/:name (vault-api.md §1.1-1.2). This is the
 * benchmark hot path: no regex compilation, no logging, one pass per item.
 */
import { randomBytes } from 'node:crypto';
import type { Reply, ResponseSite } from './envelope';
import { badRequest, errorReply, okReply } from './envelope';
import { decodeGoBase64, illegalBase64Message } from './go-base64';
import type { RequestBody } from './request-fields';
import { batchReply, readTransitItems, TransitItem } from './transit-batch';
import { NONCE_BYTES, deriveKey, formatCiphertext, openBlob, parseCiphertext, sealBlob } from './transit-crypto';
import { TransitKey, TransitMountState, keyOptionsFrom } from './transit-keys';

const MISSING_CONTEXT =
  "missing 'context' for key derivation; the key was created using a derived key, which means additional, per-request information must be included in order to perform operations with the key";

/** Per-item outcome: a value or a user-error message. */
type ItemOutcome = { readonly value: string; readonly version?: number } | { readonly error: string };

export interface EncryptDeps {
  readonly site: ResponseSite;
  readonly mount: TransitMountState;
  readonly nowSeconds: () => number;
}

function optionalBytes(text: string): Buffer | { error: string } | undefined {
  if (text === '') return undefined;
  const decoded = decodeGoBase64(text);
  return decoded.ok ? decoded.bytes : { error: illegalBase64Message(decoded.offset) };
}

function keyFor(key: TransitKey, version: number, context: Buffer | undefined): Buffer | { error: string } {
  const material = key.material(version);
  if (!key.derived) return material;
  if (!context || context.length === 0) return { error: MISSING_CONTEXT };
  return deriveKey(material, context);
}

function encryptItem(key: TransitKey, item: TransitItem, context: Buffer | undefined): ItemOutcome {
  const plaintext = decodeGoBase64(item.text);
  if (!plaintext.ok) return { error: illegalBase64Message(plaintext.offset) };
  let version = item.keyVersion;
  if (version === 0) version = key.latestVersion;
  else if (version < 0) return { error: 'requested version for encryption is negative' };
  else if (version > key.latestVersion) return { error: 'requested version for encryption is higher than the latest key version' };
  else if (version < key.minEncryptionVersion) {
    return { error: 'requested version for encryption is less than the minimum encryption key version' };
  }
  const keyBytes = keyFor(key, version, context);
  if (!Buffer.isBuffer(keyBytes)) return keyBytes;
  const aad = optionalBytes(item.associatedData);
  if (aad !== undefined && !Buffer.isBuffer(aad)) return aad;
  const blob = sealBlob(key.type, keyBytes, randomBytes(NONCE_BYTES), plaintext.bytes, aad);
  return { value: formatCiphertext(version, blob), version };
}

/** Decrypt checks in the order of keysutil.DecryptWithFactory. */
function decryptItem(key: TransitKey, item: TransitItem, context: Buffer | undefined): ItemOutcome {
  if (item.text === '') return { error: 'missing ciphertext to decrypt' };
  const parsed = parseCiphertext(item.text);
  if (!parsed.ok) return { error: parsed.error };
  if (parsed.version > key.latestVersion) return { error: 'invalid ciphertext: version is too new' };
  if (parsed.version < key.minDecryptionVersion) {
    return { error: 'ciphertext or signature version is disallowed by policy (too old)' };
  }
  const blob = decodeGoBase64(parsed.payload);
  if (!blob.ok) return { error: 'invalid ciphertext: could not decode base64' };
  const keyBytes = keyFor(key, parsed.version, context);
  if (!Buffer.isBuffer(keyBytes)) return keyBytes;
  if (blob.bytes.length < NONCE_BYTES) return { error: 'invalid ciphertext length' };
  const aad = optionalBytes(item.associatedData);
  if (aad !== undefined && !Buffer.isBuffer(aad)) return aad;
  const plaintext = openBlob(key.type, keyBytes, blob.bytes, aad);
  if (plaintext === null) return { error: 'cipher: message authentication failed' };
  return { value: plaintext.toString('base64') };
}

/** Decodes every item's context up front (Vault does this before touching the key). */
function decodeContexts(items: readonly TransitItem[]): (Buffer | { error: string } | undefined)[] {
  return items.map((item) => optionalBytes(item.context));
}

export function handleEncrypt(deps: EncryptDeps, name: string, body: RequestBody): Reply {
  const parsed = readTransitItems(body, 'plaintext', 'missing plaintext to encrypt');
  if (!parsed.ok) return parsed.reply;
  const { items, batch } = parsed;
  const contextSet = items[0]!.context !== '';
  for (const item of items) {
    if ((item.context !== '') !== contextSet) {
      return badRequest('context should be set either in all the request blocks or in none');
    }
  }
  const contexts = decodeContexts(items);
  let key = deps.mount.keys.get(name);
  if (!key) {
    // Reaching here means the token passed the `create` ACL check (upsert).
    if (deps.mount.disableUpsert) return badRequest('encryption key not found');
    const options = keyOptionsFrom(body, contextSet);
    if (!options.ok) return badRequest(options.error);
    key = new TransitKey(name, options.options, deps.nowSeconds());
    deps.mount.keys.set(name, key);
  }
  const outcomes = items.map((item, i): ItemOutcome => {
    const context = contexts[i];
    if (context !== undefined && !Buffer.isBuffer(context)) return context;
    return encryptItem(key!, item, context);
  });
  if (!batch) {
    const only = outcomes[0]!;
    if ('error' in only) return errorReply(400, only.error);
    return okReply(deps.site, { ciphertext: only.value, key_version: only.version });
  }
  let userError = false;
  let anySuccess = false;
  const results = outcomes.map((outcome, i) => {
    const reference = items[i]!.reference;
    if ('error' in outcome) {
      userError = true;
      return { error: outcome.error, reference };
    }
    anySuccess = true;
    return { ciphertext: outcome.value, key_version: outcome.version, reference };
  });
  return batchReply(deps.site, body, results, { userError, internalError: false, anySuccess });
}

export function handleDecrypt(deps: EncryptDeps, name: string, body: RequestBody): Reply {
  const parsed = readTransitItems(body, 'ciphertext', 'missing ciphertext to decrypt');
  if (!parsed.ok) return parsed.reply;
  const { items, batch } = parsed;
  const contexts = decodeContexts(items);
  const key = deps.mount.keys.get(name);
  if (!key) return badRequest('encryption key not found');
  const outcomes = items.map((item, i): ItemOutcome => {
    const context = contexts[i];
    if (context !== undefined && !Buffer.isBuffer(context)) return context;
    return decryptItem(key, item, context);
  });
  if (!batch) {
    const only = outcomes[0]!;
    if ('error' in only) return errorReply(400, only.error);
    return okReply(deps.site, { plaintext: only.value });
  }
  let userError = false;
  let anySuccess = false;
  const results = outcomes.map((outcome, i) => {
    const reference = items[i]!.reference;
    if ('error' in outcome) {
      userError = true;
      // `plaintext` is not omitempty in DecryptBatchResponseItem.
      return { plaintext: '', error: outcome.error, reference };
    }
    anySuccess = true;
    return { plaintext: outcome.value, reference };
  });
  return batchReply(deps.site, body, results, { userError, internalError: false, anySuccess });
}
