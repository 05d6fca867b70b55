import type { RenewalSettings } from '../model/renewal-policy';

/** Tunables of the domain services: every fixed number they use, in one place. */
export interface DomainSettings {
  readonly renewal: RenewalSettings;
  /** A successful background check counts as healthy for this long. */
  readonly healthMaxAgeMs: number;
  /** Do not log in again more often than this when Vault keeps rejecting tokens. */
  readonly reloginMinIntervalMs: number;
  /** Budget of one background Vault operation (login, lookup, renewal). */
  readonly backgroundTimeoutMs: number;
  /** Budget of the health check's round trip: a check never waits long for a dead node. */
  readonly healthCheckTimeoutMs: number;
  /** Budget of the sys/health check of each Vault address. */
  readonly addressCheckTimeoutMs: number;
  /** At most one check per this interval is triggered by request outcomes. */
  readonly recheckMinIntervalMs: number;
  /** How concurrent requests are turned into batch requests. */
  readonly coalescing: CoalescingSettings;
  /** When the background checks run (BackgroundChecks). */
  readonly schedule: CheckSchedule;
}

export interface CoalescingSettings {
  /** Backend requests allowed at once; beyond this, requests queue and leave as batches. */
  readonly maxInFlight: number;
  /** Most items in one batch request. */
  readonly maxBatch: number;
}

export interface CheckSchedule {
  /** The full health check, while it passes (-health-check-interval). */
  readonly healthIntervalMs: number;
  /** Longest wait between two health checks while they fail. */
  readonly healthMaxRetryMs: number;
  /** The token check (lookup, renewal, login), while it succeeds (-token-refresh-interval). */
  readonly tokenIntervalMs: number;
  /** The cheap check of the Vault addresses between two full checks. */
  readonly addressIntervalMs: number;
  /** First wait after a failed health or token check; doubles while they keep failing. */
  readonly minRetryMs: number;
}

/** What the operator chooses (-token-renewal, -token-refresh-interval, -health-check-interval). */
export interface OperatorIntervals {
  readonly tokenRenewalSeconds: number;
  readonly tokenRefreshIntervalMs: number;
  readonly healthCheckIntervalMs: number;
}

/** The settings the plugin runs with: the operator's intervals, and the fixed numbers chosen here. */
export function domainSettings(chosen: OperatorIntervals): DomainSettings {
  // The cheap address check of an idle plugin runs this often: the readiness probe's periodSeconds in our
  // manifests, so that a Vault gone away while nothing asks is seen by the next probe or the one after;
  // never more often than the full check.
  const addressIntervalMs = Math.min(5000, chosen.healthCheckIntervalMs);
  return {
    renewal: { incrementSeconds: chosen.tokenRenewalSeconds, checkIntervalSeconds: chosen.tokenRefreshIntervalMs / 1000 },
    // Three missed checks in a row before a stale success stops counting.
    healthMaxAgeMs: 3 * chosen.healthCheckIntervalMs + 5000,
    reloginMinIntervalMs: 2000,
    // Login, lookup, renewal: retried within this budget (until its deadline), then again by the renewal loop.
    backgroundTimeoutMs: 5000,
    // Short, so that health follows Vault within seconds.
    healthCheckTimeoutMs: 5000,
    addressCheckTimeoutMs: 1000,
    recheckMinIntervalMs: 1000,
    // Four parallel Vault requests keep latency flat at low load; beyond that, batches of up to 128. Four, not
    // eight: a storm of 200 calls then goes out as batches of 25-50 instead of about 15 (half the requests).
    coalescing: { maxInFlight: 4, maxBatch: 128 },
    schedule: {
      healthIntervalMs: chosen.healthCheckIntervalMs,
      // While failing, checked again within 2 s at most: health follows Vault's recovery within seconds.
      healthMaxRetryMs: 2000,
      tokenIntervalMs: chosen.tokenRefreshIntervalMs,
      addressIntervalMs,
      minRetryMs: 500,
    },
  };
}
