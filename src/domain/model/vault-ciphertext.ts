import { KmsError } from '../../ports/errors';

/**
 * The Vault/OpenBao Transit ciphertext format, `vault:v<N>:<base64 std>`: the
 * one codec for it. The plugin returns these bytes unchanged to kube-apiserver
 * (byte-compatible with the Go plugin), so validation here is what lets us
 * answer INVALID_ARGUMENT for garbage without bothering Vault. The Vault
 * adapter, the dev backend and the test fakes read and write it through here.
 */
const PREFIX = 'vault:v';
const BASE64_STD = /^[A-Za-z0-9+/]*={0,2}$/;
const VERSION_DIGITS = /^[0-9]{1,10}$/;

export interface ParsedCiphertext {
  readonly text: string;
  readonly version: number;
}

/** The parts of `vault:v<N>:<payload>`, or undefined when the text does not have that shape. */
interface CiphertextParts {
  readonly version: number;
  /** The base64 text after the version, not checked further. */
  readonly payload: string;
}

export function splitVaultCiphertext(text: string): CiphertextParts | undefined {
  if (!text.startsWith(PREFIX)) return undefined;
  const sep = text.indexOf(':', PREFIX.length);
  if (sep < 0) return undefined;
  const versionText = text.slice(PREFIX.length, sep);
  if (!VERSION_DIGITS.test(versionText)) return undefined;
  return { version: Number(versionText), payload: text.slice(sep + 1) };
}

/** Validates a Decrypt request's ciphertext, with a precise reason for each way it can be wrong. */
export function parseVaultCiphertext(bytes: Uint8Array, maxBytes: number): ParsedCiphertext {
  if (bytes.length === 0) throw new KmsError('invalid-argument', 'ciphertext is empty');
  if (bytes.length > maxBytes) {
    throw new KmsError('invalid-argument', `ciphertext is ${bytes.length} bytes, over the limit of ${maxBytes}`);
  }
  for (let i = 0; i < bytes.length; i++) {
    if (bytes[i] < 0x21 || bytes[i] > 0x7e) {
      throw new KmsError('invalid-argument', 'ciphertext is not a Vault transit ciphertext (non-printable bytes)');
    }
  }
  const text = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length).toString('latin1');
  if (!text.startsWith(PREFIX)) {
    throw new KmsError('invalid-argument', 'ciphertext is not a Vault transit ciphertext (missing "vault:v" prefix)');
  }
  if (text.indexOf(':', PREFIX.length) < 0) throw new KmsError('invalid-argument', 'ciphertext is malformed (no version separator)');
  const parts = splitVaultCiphertext(text);
  if (!parts) throw new KmsError('invalid-argument', 'ciphertext is malformed (key version is not a number)');
  const body = parts.payload;
  // 12-byte nonce + 16-byte tag at least: 28 bytes -> 40 base64 characters.
  if (body.length < 40 || body.length % 4 !== 0 || !BASE64_STD.test(body)) {
    throw new KmsError('invalid-argument', 'ciphertext is malformed (payload is not padded standard base64 of a sealed box)');
  }
  return { text, version: parts.version };
}

/** Builds the textual format from a key version and the sealed bytes. */
export function formatVaultCiphertext(version: number, sealedBox: Uint8Array): string {
  return `${PREFIX}${version}:${Buffer.from(sealedBox).toString('base64')}`;
}
