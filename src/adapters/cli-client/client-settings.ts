/** `client`'s command line as the parser (src/config/command-line.ts) read it; each flag's value as given. */
export interface ClientFlags {
  readonly action: 'status' | 'encrypt' | 'decrypt';
  /** The arguments that are not flags (encrypt's plaintext, decrypt's ciphertext). */
  readonly operands: readonly string[];
  readonly socket?: string;
  readonly api?: string;
  readonly keyId?: string;
  readonly output?: string;
  readonly timeout?: string;
}
