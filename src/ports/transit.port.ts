import type { CallContext } from './call-context';
import type { KmsError } from './errors';

/** What the domain needs from a Transit-style backend (Vault, OpenBao, the dev backend). */
export interface TransitKeyInfo {
  readonly latestVersion: number;
  readonly supportsEncryption: boolean;
  readonly supportsDecryption: boolean;
  readonly type: string;
}

/** One item to encrypt; keyVersion pins the Transit key version (absent: the latest). */
export interface EncryptItem {
  readonly plaintext: Uint8Array;
  readonly keyVersion?: number;
}

export type EncryptOutcome =
  | { readonly ok: true; readonly ciphertext: string; readonly keyVersion: number }
  | { readonly ok: false; readonly error: KmsError };

export type DecryptOutcome =
  | { readonly ok: true; readonly plaintext: Uint8Array }
  | { readonly ok: false; readonly error: KmsError };

/**
 * Batch-shaped on purpose: a single item is a batch of one, and the backend
 * adapter decides how to send it (single request, batch_input, or a fallback
 * to singles). Whole-request failures (unreachable, permission denied) reject
 * with a KmsError; per-item failures come back in the outcome at that index.
 */
export interface TransitPort {
  encrypt(items: readonly EncryptItem[], ctx: CallContext): Promise<EncryptOutcome[]>;
  decrypt(ciphertexts: readonly string[], ctx: CallContext): Promise<DecryptOutcome[]>;
  readKey(ctx: CallContext): Promise<TransitKeyInfo>;
}
