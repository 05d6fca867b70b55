/** Cryptographically random bytes (the health check's probe plaintext). */
export interface RandomPort {
  bytes(n: number): Uint8Array;
}
