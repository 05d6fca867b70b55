/**
 * The closed set of failure kinds the plugin understands. Adapters classify
 * backend failures into one of these exactly once; the gRPC adapter maps them
 * to status codes, metrics label them, and health reads them. Messages must
 * never contain plaintext or credentials.
 */
export type KmsErrorKind =
  | 'invalid-argument' // malformed request field (empty, oversized, wrong format)
  | 'invalid-ciphertext' // well-formed request, but the backend cannot decrypt it (foreign key, tampered)
  | 'permission-denied' // the backend refused our credentials or policy
  | 'unavailable' // backend unreachable, sealed, throttled or 5xx after retries
  | 'deadline-exceeded' // the caller's deadline passed
  | 'cancelled' // the caller went away
  | 'failed-precondition' // misconfiguration: transit key or mount missing, key not usable
  | 'internal'; // a bug or an unexpected backend answer

/**
 * Why no usable HTTP answer came from Vault, recorded on the error where the
 * request failed (the Vault adapter reads it from the network error), so that
 * `check` names a fix for each without reading message texts.
 */
export type NetworkReason = 'dns' | 'refused' | 'closed' | 'tls-untrusted' | 'tls-name' | 'tls-protocol' | 'plain-http-to-tls' | 'timeout' | 'other';

export class KmsError extends Error {
  readonly kind: KmsErrorKind;
  /** Set when the request got no usable HTTP answer: why. */
  readonly reason: NetworkReason | undefined;
  /** True when the backend said our token itself is invalid/expired (not a policy denial). */
  readonly tokenInvalid: boolean;
  /** True when the token is valid but its policy lacks a capability: a new login cannot fix that. */
  readonly missingCapability: boolean;

  constructor(kind: KmsErrorKind, message: string, options: { tokenInvalid?: boolean; missingCapability?: boolean; reason?: NetworkReason; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'KmsError';
    this.kind = kind;
    this.tokenInvalid = options.tokenInvalid ?? false;
    this.missingCapability = options.missingCapability ?? false;
    this.reason = options.reason;
  }
}

/** Wraps anything thrown into a KmsError without leaking its message (it may hold data). */
export function asKmsError(e: unknown): KmsError {
  if (e instanceof KmsError) return e;
  return new KmsError('internal', 'unexpected internal error', { cause: e });
}

