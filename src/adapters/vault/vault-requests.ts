import type { VaultRequestOutcome, VaultRequestsPort } from '../../ports/vault-requests.port';

/**
 * Hands the end of every Vault request (the HTTP client's observer) to those
 * listening. Made before the HTTP client, which reports into it, and the
 * health check, which listens; so neither needs the other at construction.
 */
export class VaultRequestFeed implements VaultRequestsPort {
  private readonly listeners: ((outcome: VaultRequestOutcome) => void)[] = [];

  onOutcome(listener: (outcome: VaultRequestOutcome) => void): void {
    this.listeners.push(listener);
  }

  /** One request ended with this HTTP status (undefined: no answer). */
  ended(status: number | undefined): void {
    const outcome = requestOutcomeOf(status);
    for (const listener of this.listeners) listener(outcome);
  }
}

/** A Vault request as the health check sees it: 401/403 say the credentials stopped working, not that Vault did. */
export function requestOutcomeOf(status: number | undefined): VaultRequestOutcome {
  if (status === undefined || status >= 500) return 'failed';
  if (status === 401 || status === 403) return 'refused';
  return 'answered';
}
