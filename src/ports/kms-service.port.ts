import type { CallContext } from './call-context';

/**
 * The inbound port: the KMS plugin contract in three transport-neutral calls,
 * shaped like k8s.io/kms's service interface. The gRPC adapter translates the
 * v2 and v1beta1 wire messages to these and holds no policy of its own.
 */
export interface KmsServicePort {
  /** Answers from memory, except before the first health verdict, which it awaits within the deadline. */
  status(ctx: CallContext): Promise<StatusResult>;
  encrypt(plaintext: Uint8Array, ctx: CallContext): Promise<EncryptResult>;
  decrypt(input: DecryptInput, ctx: CallContext): Promise<Uint8Array>;
}

export interface StatusResult {
  readonly version: 'v2';
  readonly healthz: string;
  readonly keyId: string;
}

export interface EncryptResult {
  readonly ciphertext: Uint8Array;
  /** The Transit key version this ciphertext was made with, as a decimal string. */
  readonly keyId: string;
}

export interface DecryptInput {
  readonly ciphertext: Uint8Array;
  readonly keyId?: string;
  readonly annotations?: ReadonlyMap<string, Uint8Array>;
}
