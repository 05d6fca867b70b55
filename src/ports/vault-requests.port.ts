/** What a Vault request told about Vault: it answered, it refused the credentials (401/403), or it failed (5xx, network). */
export type VaultRequestOutcome = 'answered' | 'refused' | 'failed';

/**
 * The outcome of every Vault request the adapter makes, as it ends. The
 * health check listens: an outcome that contradicts its verdict calls for a
 * check now.
 */
export interface VaultRequestsPort {
  onOutcome(listener: (outcome: VaultRequestOutcome) => void): void;
}

/** Without Vault (-dev) no request ever ends. */
export const NO_VAULT_REQUESTS: VaultRequestsPort = { onOutcome: () => {} };
