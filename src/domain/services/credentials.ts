import { asKmsError } from '../../ports/errors';

/**
 * How the envelope service and the health monitor see the Vault credentials,
 * without depending on how they are kept. TokenLifecycle implements both with
 * a real token; a backend without credentials (the dev backend) gets the
 * constants below. Which one is used is decided once, at registration.
 */
export type CredentialStatus =
  | { readonly ok: true }
  /** `pending`: no login has been tried yet, so there is nothing true to report. */
  | { readonly ok: false; readonly reason: string; readonly pending?: true };

/** Tells whether our Vault credentials are currently usable. */
export interface CredentialCheck {
  credentialStatus(): CredentialStatus;
}

/** Retries a request once after a new login, if Vault said our token was bad. */
export interface TokenRejectionHandler {
  generation(): number;
  onTokenRejected(usedGeneration: number, tokenInvalid: boolean): Promise<boolean>;
}

/**
 * Runs `op`; if Vault refused it because our token is bad (not because the
 * policy lacks a capability), logs in again and runs it once more. The
 * request path and the health check both go through here, so a token replaced
 * in its file is picked up by whichever asks Vault first.
 */
export async function retryAfterRelogin<T>(tokens: TokenRejectionHandler, op: () => Promise<T>): Promise<T> {
  const generation = tokens.generation();
  try {
    return await op();
  } catch (e) {
    const err = asKmsError(e);
    if (err.kind === 'permission-denied' && !err.missingCapability && (await tokens.onTokenRejected(generation, err.tokenInvalid))) return op();
    throw err;
  }
}

/** Keeps the credentials usable in the background, and logs in again when the operator asks (SIGHUP). */
export interface CredentialUpkeep {
  /** False when the backend needs no credentials: nothing to keep, nothing to log in again with. */
  readonly kept: boolean;
  isLoggedIn(): boolean;
  /** The periodic check: log in if needed, else look the token up and renew it when due. Throws when it failed. */
  tick(): Promise<void>;
  /** Logs in now (reading a credential file again). */
  login(): Promise<void>;
}

export const NO_CREDENTIALS_NEEDED: CredentialCheck = { credentialStatus: () => ({ ok: true }) };
export const NEVER_RELOGIN: TokenRejectionHandler = { generation: () => 0, onTokenRejected: async () => false };
export const NO_CREDENTIALS_TO_KEEP: CredentialUpkeep = { kept: false, isLoggedIn: () => true, tick: async () => {}, login: async () => {} };
