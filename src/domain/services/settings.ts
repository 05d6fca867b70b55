import type { RenewalSettings } from '../model/renewal-policy';

/** Tunables of the domain services, built from the configuration by the composition root. */
export interface DomainSettings {
  readonly renewal: RenewalSettings;
  /** A successful background check counts as healthy for this long. */
  readonly healthMaxAgeMs: number;
  /** Do not log in again more often than this when Vault keeps rejecting tokens. */
  readonly reloginMinIntervalMs: number;
  /** Budget of one background Vault operation (login, lookup, health round trip). */
  readonly backgroundTimeoutMs: number;
  /** Budget of the health check's round trip (default 5 s): a check never waits long for a dead node. */
  readonly healthCheckTimeoutMs?: number;
  /** Budget of the sys/health check of each Vault address (default 1 s). */
  readonly addressCheckTimeoutMs?: number;
  /** At most one check per this interval is triggered by request outcomes (default 1 s). */
  readonly recheckMinIntervalMs?: number;
  /** How concurrent requests are turned into batch requests. */
  readonly coalescing: CoalescingSettings;
}

export interface CoalescingSettings {
  /** Backend requests allowed at once; beyond this, requests queue and leave as batches. */
  readonly maxInFlight: number;
  /** Most items in one batch request. */
  readonly maxBatch: number;
}
