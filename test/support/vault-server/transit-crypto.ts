/**
 * Transit's symmetric crypto (vault-api.md §2): real AEAD, same layout as
 * Vault, so ciphertexts produced here look and behave like the real thing.
 *
 *   "vault:v" + version + ":" + base64std(nonce[12] || ciphertext || tag[16])
 */
import { CipherGCMTypes, createCipheriv, createDecipheriv, hkdfSync, randomBytes } from 'node:crypto';

export const NONCE_BYTES = 12;
export const TAG_BYTES = 16;
export const CIPHERTEXT_PREFIX = 'vault:v';

export type TransitKeyType = 'aes256-gcm96' | 'aes128-gcm96' | 'chacha20-poly1305';

interface CipherSpec {
  // Typed as a GCM name so one createCipheriv overload fits all three; Node
  // takes the same authTagLength/setAAD/getAuthTag calls for chacha20-poly1305.
  readonly algorithm: CipherGCMTypes;
  readonly keyBytes: number;
}

const CIPHERS: Readonly<Record<TransitKeyType, CipherSpec>> = {
  'aes256-gcm96': { algorithm: 'aes-256-gcm', keyBytes: 32 },
  'aes128-gcm96': { algorithm: 'aes-128-gcm', keyBytes: 16 },
  'chacha20-poly1305': { algorithm: 'chacha20-poly1305' as CipherGCMTypes, keyBytes: 32 },
};

/** Types Vault knows but this emulator cannot encrypt with (asymmetric, HMAC, ...). */
export const KNOWN_UNSUPPORTED_TYPES: ReadonlySet<string> = new Set([
  'ed25519',
  'ecdsa-p256',
  'ecdsa-p384',
  'ecdsa-p521',
  'rsa-2048',
  'rsa-3072',
  'rsa-4096',
  'hmac',
  'xchacha20-poly1305',
]);

export function isSupportedKeyType(type: string): type is TransitKeyType {
  return Object.prototype.hasOwnProperty.call(CIPHERS, type);
}

export function newKeyMaterial(type: TransitKeyType): Buffer {
  return randomBytes(CIPHERS[type].keyBytes);
}

/**
 * HKDF-SHA256(IKM = version key, salt = nil, info = context), as Vault does for
 * derived keys. An empty salt and Go's nil salt both become HashLen zero bytes.
 */
export function deriveKey(key: Buffer, context: Buffer): Buffer {
  return Buffer.from(hkdfSync('sha256', key, Buffer.alloc(0), context, key.length));
}

/** nonce || ciphertext || tag. */
export function sealBlob(type: TransitKeyType, key: Buffer, nonce: Buffer, plaintext: Buffer, aad?: Buffer): Buffer {
  const cipher = createCipheriv(CIPHERS[type].algorithm, key, nonce, { authTagLength: TAG_BYTES });
  if (aad && aad.length > 0) cipher.setAAD(aad, { plaintextLength: plaintext.length });
  const body = cipher.update(plaintext);
  const last = cipher.final();
  return Buffer.concat([nonce, body, last, cipher.getAuthTag()]);
}

/** Returns null when authentication fails (Go: "cipher: message authentication failed"). */
export function openBlob(type: TransitKeyType, key: Buffer, blob: Buffer, aad?: Buffer): Buffer | null {
  if (blob.length < NONCE_BYTES + TAG_BYTES) return null;
  const nonce = blob.subarray(0, NONCE_BYTES);
  const tag = blob.subarray(blob.length - TAG_BYTES);
  const body = blob.subarray(NONCE_BYTES, blob.length - TAG_BYTES);
  try {
    const decipher = createDecipheriv(CIPHERS[type].algorithm, key, nonce, { authTagLength: TAG_BYTES });
    if (aad && aad.length > 0) decipher.setAAD(aad, { plaintextLength: body.length });
    decipher.setAuthTag(tag);
    const head = decipher.update(body);
    const tail = decipher.final();
    return tail.length === 0 ? head : Buffer.concat([head, tail]);
  } catch {
    return null;
  }
}

export function formatCiphertext(version: number, blob: Buffer): string {
  return CIPHERTEXT_PREFIX + version + ':' + blob.toString('base64');
}

export interface DeterministicEncryptOptions {
  readonly version?: number;
  readonly type?: TransitKeyType;
  readonly associatedData?: Buffer;
  /** If set, the key is treated as a derived key's base and HKDF'd with this context. */
  readonly context?: Buffer;
}

/**
 * Pure encrypt with caller-chosen key and nonce: the entry point for checking
 * the test vectors of vault-api.md §2 (the server itself uses a random nonce).
 */
export function encryptWithNonce(
  key: Buffer,
  nonce: Buffer,
  plaintext: Buffer,
  options: DeterministicEncryptOptions = {},
): string {
  const type = options.type ?? 'aes256-gcm96';
  const effectiveKey = options.context ? deriveKey(key, options.context) : key;
  return formatCiphertext(options.version ?? 1, sealBlob(type, effectiveKey, nonce, plaintext, options.associatedData));
}

export type ParsedCiphertext =
  | { readonly ok: true; readonly version: number; readonly payload: string }
  | { readonly ok: false; readonly error: string };

const ATOI_TEXT = /^[+-]?\d+$/;
const MAX_INT64 = 9223372036854775807;

/**
 * Steps 1-4 of the decrypt checks (vault-api.md §1.2): prefix, field count,
 * version decoding (strconv.Atoi rules), version 0 treated as 1.
 */
export function parseCiphertext(value: string): ParsedCiphertext {
  if (!value.startsWith(CIPHERTEXT_PREFIX)) return { ok: false, error: 'invalid ciphertext: no prefix' };
  const colon = value.indexOf(':', CIPHERTEXT_PREFIX.length);
  if (colon < 0) return { ok: false, error: 'invalid ciphertext: wrong number of fields' };
  const versionText = value.slice(CIPHERTEXT_PREFIX.length, colon);
  const version = ATOI_TEXT.test(versionText) ? Number(versionText) : Number.NaN;
  if (!Number.isFinite(version) || Math.abs(version) > MAX_INT64) {
    return { ok: false, error: 'invalid ciphertext: version number could not be decoded' };
  }
  return { ok: true, version: version === 0 ? 1 : version, payload: value.slice(colon + 1) };
}
