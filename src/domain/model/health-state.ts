import { outsideText, OUTSIDE_TEXT_MAX_CHARS } from './outside-text';

/**
 * /health, /healthz?verbose and KMS Status serve the reason without
 * authentication, and it can quote Vault or the SPIFFE agent: whatever the
 * checks found, it is served as one line of visible characters, this long at
 * most (a few sentences of our own plus a quoted detail).
 */
export const MAX_HEALTH_REASON_CHARS = 1000;

/**
 * Health as the result of the last background check (token valid, key
 * readable, one encrypt/decrypt round trip). Probes and KMS v2 Status read this
 * state; they never call Vault themselves, so no probe rate adds Vault load.
 * A success only counts while it is recent: a stuck checker must not keep
 * reporting "ok".
 */
interface HealthSnapshot {
  readonly healthy: boolean;
  /** "ok" when healthy, otherwise a short reason without secrets. */
  readonly reason: string;
  readonly checkedAt: number | undefined;
  /** The last check of each Vault address (empty without Vault addresses, or before the first check). */
  readonly addresses?: readonly AddressVerdict[];
}

interface AddressVerdict {
  readonly address: string;
  readonly ok: boolean;
  readonly detail: string;
}

export class HealthState {
  private last: { ok: boolean; reason: string; at: number } | undefined;
  private addresses: readonly AddressVerdict[] = [];

  constructor(private readonly maxAgeMs: number) {}

  record(ok: boolean, reason: string, at: number): void {
    this.last = { ok, reason: ok ? 'ok' : outsideText(reason, MAX_HEALTH_REASON_CHARS), at };
  }

  recordAddresses(addresses: readonly AddressVerdict[]): void {
    this.addresses = addresses.map((a) => ({ address: a.address, ok: a.ok, detail: outsideText(a.detail, OUTSIDE_TEXT_MAX_CHARS) }));
  }

  private detail(): { addresses?: readonly AddressVerdict[] } {
    return this.addresses.length > 0 ? { addresses: this.addresses } : {};
  }

  hasVerdict(): boolean {
    return this.last !== undefined;
  }

  snapshot(now: number): HealthSnapshot {
    const last = this.last;
    if (last === undefined) {
      return { healthy: false, reason: 'starting: first Vault check has not completed', checkedAt: undefined, ...this.detail() };
    }
    if (!last.ok) return { healthy: false, reason: last.reason, checkedAt: last.at, ...this.detail() };
    if (now - last.at > this.maxAgeMs) {
      return { healthy: false, reason: `last successful Vault check is older than ${Math.round(this.maxAgeMs / 1000)}s`, checkedAt: last.at, ...this.detail() };
    }
    return { healthy: true, reason: 'ok', checkedAt: last.at, ...this.detail() };
  }
}
