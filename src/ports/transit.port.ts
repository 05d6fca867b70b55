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

/** A sealed data key: the Vault ciphertext and the key version it was made with. */
export interface Sealed {
  readonly ciphertext: string;
  readonly keyVersion: number;
}

/**
 * What the domain asks of Transit, one item at a time. Every failure, of the
 * item or of the whole request, is a thrown KmsError.
 */
export interface TransitPort {
  encrypt(item: EncryptItem, ctx: CallContext): Promise<Sealed>;
  decrypt(ciphertext: string, ctx: CallContext): Promise<Uint8Array>;
  readKey(ctx: CallContext): Promise<TransitKeyInfo>;
}

/** One item's result in a batch: its own failure does not fail the others. */
export type Outcome<T> = ({ readonly ok: true } & T) | { readonly ok: false; readonly error: KmsError };
export type EncryptOutcome = Outcome<Sealed>;
export type DecryptOutcome = Outcome<{ readonly plaintext: Uint8Array }>;

/**
 * The backend below the batching lane (domain/services/coalescing-transit.ts),
 * batch-shaped: a single item is a batch of one, and the backend adapter
 * decides how to send it (single request, batch_input, or a fallback to
 * singles). Whole-request failures (unreachable, permission denied) reject
 * with a KmsError; per-item failures come back in the outcome at that index.
 * Only the batching lane reads these outcomes.
 */
export interface TransitBatchPort {
  encrypt(items: readonly EncryptItem[], ctx: CallContext): Promise<EncryptOutcome[]>;
  decrypt(ciphertexts: readonly string[], ctx: CallContext): Promise<DecryptOutcome[]>;
  readKey(ctx: CallContext): Promise<TransitKeyInfo>;
}
