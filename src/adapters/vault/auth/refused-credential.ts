import { createHash } from 'node:crypto';

/**
 * Vault and OpenBao lock a user or role ID for every node after a few failed
 * logins (user_lockout: 5 in 15 minutes by default). A credential Vault called
 * wrong is therefore not sent again until it changes, or this long has passed:
 * three tries per lockout window stay below the default threshold.
 */
export const REFUSED_CREDENTIAL_RETRY_MS = 5 * 60_000;

/**
 * Remembers the last credential Vault refused, by fingerprint only (the
 * credential itself is not kept), for AppRole secret IDs and userpass passwords.
 */
export class RefusedCredential {
  private refused: { fingerprint: string; at: number } | undefined;

  constructor(private readonly now: () => number = Date.now) {}

  /** True while `secret` is the one Vault refused less than REFUSED_CREDENTIAL_RETRY_MS ago. */
  heldBack(secret: string): boolean {
    return this.refused?.fingerprint === fingerprintOf(secret) && this.now() - this.refused.at < REFUSED_CREDENTIAL_RETRY_MS;
  }

  refuse(secret: string): void {
    this.refused = { fingerprint: fingerprintOf(secret), at: this.now() };
  }

  accepted(): void {
    this.refused = undefined;
  }
}

function fingerprintOf(secret: string): string {
  return createHash('sha256').update(secret).digest('hex');
}
