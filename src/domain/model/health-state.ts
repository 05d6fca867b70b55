/**
 * Health as the result of the last background check (token valid, key
 * readable, one encrypt/decrypt round trip). Probes and KMS v2 Status read this
 * state; they never call Vault themselves, so no probe rate adds Vault load.
 * A success only counts while it is recent: a stuck checker must not keep
 * reporting "ok".
 */
export interface HealthSnapshot {
  readonly healthy: boolean;
  /** "ok" when healthy, otherwise a short reason without secrets. */
  readonly reason: string;
  readonly checkedAt: number | undefined;
}

export class HealthState {
  private last: { ok: boolean; reason: string; at: number } | undefined;

  constructor(private readonly maxAgeMs: number) {}

  record(ok: boolean, reason: string, at: number): void {
    this.last = { ok, reason: ok ? 'ok' : reason, at };
  }

  hasVerdict(): boolean {
    return this.last !== undefined;
  }

  snapshot(now: number): HealthSnapshot {
    const last = this.last;
    if (last === undefined) {
      return { healthy: false, reason: 'starting: first Vault check has not completed', checkedAt: undefined };
    }
    if (!last.ok) return { healthy: false, reason: last.reason, checkedAt: last.at };
    if (now - last.at > this.maxAgeMs) {
      return { healthy: false, reason: `last successful Vault check is older than ${Math.round(this.maxAgeMs / 1000)}s`, checkedAt: last.at };
    }
    return { healthy: true, reason: 'ok', checkedAt: last.at };
  }
}
