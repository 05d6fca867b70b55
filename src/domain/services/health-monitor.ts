import { inject, injectable } from 'tsyringe';
import type { ClockPort } from '../../ports/clock.port';
import type { LoggerPort } from '../../ports/logger.port';
import type { MetricsPort } from '../../ports/metrics.port';
import { TOKENS } from '../../ports/tokens';
import type { TransitPort } from '../../ports/transit.port';
import type { VaultAddressCheck, VaultAddressesPort } from '../../ports/vault-addresses.port';
import type { VaultRequestOutcome } from '../../ports/vault-requests.port';
import { withTimeout } from '../../ports/call-context';
import { asKmsError } from '../../ports/errors';
import { HealthState } from '../model/health-state';
import { KeyVersionTracker } from '../model/key-version-tracker';
import { retryAfterRelogin, type CredentialCheck, type TokenRejectionHandler } from './credentials';
import type { DomainSettings } from './settings';

const PROBE_BYTES = 16;

/**
 * The background check behind /health and KMS v2 Status: at least one Vault
 * address answering sys/health (each checked at once, with a short timeout),
 * credentials usable, key readable (which also refreshes key_id), and one
 * encrypt/decrypt round trip of random bytes. Costs three Vault requests plus
 * one sys/health per address per run, whatever the probe or Status rate.
 * BackgroundChecks runs it periodically, at once (rate-bounded) when a request outcome
 * contradicts the current verdict (see requestOutcome), and when the cheap
 * address check between two runs finds no usable Vault (see quickCheck).
 */
@injectable()
export class HealthMonitor {
  readonly state: HealthState;
  private lastReason = '';
  private lastRecheckAt = Number.NEGATIVE_INFINITY;
  private settle: () => void = () => {};
  /** Resolves with the first check that could tell the truth: one after the first login attempt. */
  private readonly firstVerdict = new Promise<void>((resolve) => (this.settle = resolve));

  constructor(
    @inject(TOKENS.Transit) private readonly transit: TransitPort,
    @inject(KeyVersionTracker) private readonly keys: KeyVersionTracker,
    @inject(TOKENS.Clock) private readonly clock: ClockPort,
    @inject(TOKENS.Logger) private readonly log: LoggerPort,
    @inject(TOKENS.Metrics) private readonly metrics: MetricsPort,
    @inject(TOKENS.DomainSettings) private readonly settings: DomainSettings,
    @inject(TOKENS.CredentialCheck) private readonly credentials: CredentialCheck,
    @inject(TOKENS.VaultAddresses) private readonly vaultAddresses: VaultAddressesPort,
    @inject(TOKENS.TokenRejectionHandler) private readonly tokens: TokenRejectionHandler,
  ) {
    this.state = new HealthState(settings.healthMaxAgeMs);
  }

  /**
   * Tells whether a Vault request's outcome calls for a check now: a failure
   * or a refusal (401/403: the token expired or lost its policy) while
   * healthy, or an answer while not, at most once per recheckMinIntervalMs.
   * The caller then runs check() (it never overlaps).
   */
  requestOutcome(outcome: VaultRequestOutcome): boolean {
    const now = this.clock.now();
    if (!this.state.hasVerdict()) return false;
    const healthy = this.state.snapshot(now).healthy;
    const contradicts = healthy ? outcome !== 'answered' : outcome === 'answered';
    if (!contradicts) return false;
    if (now - this.lastRecheckAt < this.settings.recheckMinIntervalMs) return false;
    this.lastRecheckAt = now;
    return true;
  }

  /**
   * The cheap check between two full checks, for an idle plugin (no request
   * to tell it Vault went away): only the addresses' unauthenticated
   * sys/health. While healthy, no usable address makes it unhealthy at once;
   * it returns true when a full check is due now (the caller runs check()).
   * While unhealthy it does nothing: the full check already retries quickly.
   */
  async quickCheck(): Promise<boolean> {
    if (this.vaultAddresses.addresses().length === 0 || !this.state.hasVerdict()) return false;
    if (!this.state.snapshot(this.clock.now()).healthy) return false;
    const unreachable = await this.checkAddresses();
    if (unreachable === undefined) return false;
    // Still healthy by the record (no other check in between): say so now, then let the full check confirm.
    if (this.state.snapshot(this.clock.now()).healthy) this.recordVerdict(unreachable);
    return true;
  }

  async check(randomBytes: (n: number) => Uint8Array): Promise<boolean> {
    const creds = this.credentials.credentialStatus();
    const unreachable = await this.checkAddresses();
    const reason = unreachable ?? (await this.findProblem(randomBytes));
    const ok = reason === undefined;
    // Before the first login attempt ends there is nothing true to say about the credentials (Status keeps
    // waiting), but "no Vault address answers" is true already.
    if (!ok && !creds.ok && creds.pending && unreachable === undefined) return false;
    this.recordVerdict(reason);
    return ok;
  }

  private recordVerdict(reason: string | undefined): void {
    const ok = reason === undefined;
    this.state.record(ok, reason ?? 'ok', this.clock.now());
    this.settle();
    this.metrics.health(ok);
    if ((reason ?? 'ok') !== this.lastReason) {
      if (ok) this.log.info('health check passed', { key_id: this.keys.keyId() });
      else this.log.warn('health check failed', { reason });
      this.lastReason = reason ?? 'ok';
    }
  }

  /**
   * Waits (at most `ms`) until the first check has a verdict, so that the first
   * Status kube-apiserver sends after the socket appears is answered truthfully
   * instead of "starting".
   */
  async waitForFirstVerdict(ms: number): Promise<void> {
    if (this.state.hasVerdict() || ms <= 0) return;
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([
      this.firstVerdict,
      new Promise<void>((r) => {
        timer = setTimeout(r, Math.min(ms, 2 ** 31 - 1));
      }),
    ]);
    clearTimeout(timer);
  }

  /** With Vault addresses: the problem when none of them answers as usable, recorded per address for /health. */
  private async checkAddresses(): Promise<string | undefined> {
    if (this.vaultAddresses.addresses().length === 0) return undefined;
    const ctx = withTimeout(this.clock.now(), this.settings.addressCheckTimeoutMs);
    const checks = await this.vaultAddresses.checkAll(ctx);
    this.state.recordAddresses(checks);
    this.metrics.vaultAddresses?.(checks);
    if (checks.some((c) => c.ok)) return undefined;
    return `no Vault address is usable: ${checks.map((c: VaultAddressCheck) => `${c.address} ${c.detail}`).join('; ')}`;
  }

  private async findProblem(randomBytes: (n: number) => Uint8Array): Promise<string | undefined> {
    const creds = this.credentials.credentialStatus();
    if (!creds.ok) return creds.reason;
    const ctx = withTimeout(this.clock.now(), this.settings.healthCheckTimeoutMs);
    try {
      // A token refused here (revoked, or replaced in its file) is logged in again at once, as a request
      // would: not only at the next token check, up to -token-refresh-interval later.
      return await retryAfterRelogin(this.tokens, async () => {
        const key = await this.transit.readKey(ctx);
        const seen = this.keys.observe(key.latestVersion, 'key-read');
        if (seen.changed) this.log.info('transit key version changed', { from: seen.previous, to: seen.current });
        if (seen.current !== undefined) this.metrics.keyVersion(seen.current);
        const regression = this.keys.regressionDetected();
        if (regression) {
          return `transit key latest_version went from ${regression.from} back to ${regression.to}: the key was deleted and recreated; data encrypted before cannot be decrypted (restart the plugin to accept the new key)`;
        }
        if (!key.supportsEncryption || !key.supportsDecryption) {
          return `transit key type ${key.type} does not support encryption and decryption`;
        }
        const probe = randomBytes(PROBE_BYTES);
        const { ciphertext } = await this.transit.encrypt({ plaintext: probe }, ctx);
        const plaintext = await this.transit.decrypt(ciphertext, ctx);
        if (Buffer.compare(Buffer.from(plaintext), Buffer.from(probe)) !== 0) {
          return 'health round trip returned different bytes';
        }
        return undefined;
      });
    } catch (e) {
      const err = asKmsError(e);
      return `vault ${err.kind}: ${err.message}`;
    }
  }
}
