/**
 * Input limits. kube-apiserver sends 32-byte DEKs/seeds (and "ping"-sized health
 * payloads); anything near these limits is hostile or a bug. Limits are documented
 * in docs/security.md and enforced before any backend call.
 */
export const LIMITS = {
  /** Largest plaintext accepted by Encrypt. */
  maxPlaintextBytes: 64 * 1024,
  /** Largest ciphertext accepted by Decrypt: a Vault ciphertext of the largest plaintext fits. */
  maxCiphertextBytes: 96 * 1024,
  /** kube-apiserver rejects key_ids over 1024 bytes; so do we. */
  maxKeyIdBytes: 1024,
  /** kube-apiserver rejects annotation sets over 32 KiB in total. */
  maxAnnotationBytes: 32 * 1024,
  /** Largest gRPC message the server accepts at all. */
  maxGrpcMessageBytes: 256 * 1024,
} as const;
