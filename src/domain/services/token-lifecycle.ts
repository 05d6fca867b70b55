import { inject, injectable } from 'tsyringe';
import type { AuthStrategyPort, TokenSessionPort } from '../../ports/auth.port';
import type { ClockPort } from '../../ports/clock.port';
import type { LoggerPort } from '../../ports/logger.port';
import type { MetricsPort } from '../../ports/metrics.port';
import { TOKENS } from '../../ports/tokens';
import { withTimeout } from '../../ports/call-context';
import { asKmsError } from '../../ports/errors';
import { decideAfterRenewal, decideOnLookup } from '../model/renewal-policy';
import type { CredentialCheck, CredentialStatus, CredentialUpkeep, TokenRejectionHandler } from './credentials';
import type { DomainSettings } from './settings';

/**
 * Keeps a valid Vault token in use: logs in, then on every tick looks the token
 * up and acts on the renewal policy. Also the one place that reacts to "Vault
 * rejected our token" from any request, by logging in again (rate-limited and
 * shared by concurrent callers).
 */
@injectable()
export class TokenLifecycle implements CredentialCheck, TokenRejectionHandler, CredentialUpkeep {
  readonly kept = true;
  private status: CredentialStatus = { ok: false, reason: 'not logged in to Vault yet', pending: true };
  private loggedIn = false;
  /** Increments with every successful login: tells a request whether its token was already replaced. */
  private tokenGeneration = 0;
  private relogin: Promise<boolean> | undefined;
  /** When a rejected request last made us log in again; throttles a policy denial that a login cannot fix. */
  private lastRejectionLoginAt = Number.NEGATIVE_INFINITY;

  constructor(
    @inject(TOKENS.AuthStrategy) private readonly auth: AuthStrategyPort,
    @inject(TOKENS.TokenSession) private readonly session: TokenSessionPort,
    @inject(TOKENS.Clock) private readonly clock: ClockPort,
    @inject(TOKENS.Logger) private readonly log: LoggerPort,
    @inject(TOKENS.Metrics) private readonly metrics: MetricsPort,
    @inject(TOKENS.DomainSettings) private readonly settings: DomainSettings,
  ) {}

  credentialStatus(): CredentialStatus {
    return this.status;
  }

  isLoggedIn(): boolean {
    return this.loggedIn;
  }

  /** Logs in and verifies the token with a lookup. Throws on failure. */
  async login(): Promise<void> {
    const ctx = withTimeout(this.clock.now(), this.settings.backgroundTimeoutMs);
    try {
      const token = await this.auth.login(ctx);
      this.session.useToken(token);
      const lookup = await this.session.lookupSelf(ctx);
      this.metrics.tokenTtl(lookup.ttl);
      this.loggedIn = true;
      this.tokenGeneration++;
      this.status = { ok: true };
      this.log.info('authenticated to Vault', {
        auth_method: this.auth.method,
        token_ttl_seconds: lookup.ttl,
        renewable: lookup.renewable,
        periodic: lookup.period > 0,
      });
    } catch (e) {
      const err = asKmsError(e);
      if (err.tokenInvalid) {
        this.status = { ok: false, reason: this.invalidTokenReason() };
      } else if (err.kind === 'permission-denied') {
        // A missing capability names itself; a refused login says why (bad secret ID, lockout).
        this.status = { ok: false, reason: err.missingCapability ? err.message : `Vault login failed: ${err.message}` };
      } else if (!this.loggedIn) {
        this.status = { ok: false, reason: `Vault login failed: ${err.message}` };
      }
      throw err;
    }
  }

  /** One run of the renewal loop (every -token-refresh-interval). */
  async tick(): Promise<void> {
    if (!this.loggedIn) {
      await this.login();
      return;
    }
    const ctx = withTimeout(this.clock.now(), this.settings.backgroundTimeoutMs);
    let lookup;
    try {
      lookup = await this.session.lookupSelf(ctx);
    } catch (e) {
      const err = asKmsError(e);
      if (err.missingCapability) {
        // The token is fine; its policy is not. A new login would get the same policy.
        this.status = { ok: false, reason: err.message };
        throw err;
      }
      if (err.kind === 'permission-denied' || err.tokenInvalid) {
        this.log.warn('token lookup rejected by Vault, logging in again', { error: err.message });
        await this.login();
        return;
      }
      throw err;
    }
    this.metrics.tokenTtl(lookup.ttl);
    this.status = { ok: true };
    const decision = decideOnLookup(lookup, this.settings.renewal);
    this.log.debug('token check', { ttl_seconds: lookup.ttl, creation_ttl_seconds: lookup.creationTtl, action: decision.action, reason: decision.reason });
    if (decision.action === 'none') return;
    if (decision.action === 'relogin') {
      await this.reloginFor(decision.reason);
      return;
    }
    try {
      const renewed = await this.session.renewSelf(decision.incrementSeconds, ctx);
      this.metrics.tokenRenewal('success');
      this.metrics.tokenTtl(renewed.leaseDurationSeconds);
      this.log.info('renewed Vault token', { lease_duration_seconds: renewed.leaseDurationSeconds });
      const after = decideAfterRenewal(renewed.leaseDurationSeconds, this.settings.renewal);
      if (after.action === 'relogin') await this.reloginFor(after.reason);
    } catch (e) {
      const err = asKmsError(e);
      this.metrics.tokenRenewal('failure');
      this.log.warn('token renewal failed', { error: err.message });
      // Vault unreachable or electing a leader: the token still has TTL and stays in use;
      // the renewal loop tries again (with backoff) instead of replacing a good token.
      if (err.kind === 'unavailable' || err.kind === 'deadline-exceeded') throw err;
      await this.reloginFor('token renewal failed');
    }
  }

  /** Why a token Vault called invalid cannot be used, and what helps, per auth method. */
  private invalidTokenReason(): string {
    if (!this.auth.canObtainNewToken) {
      return 'Vault token is invalid, expired or revoked; token auth cannot obtain a new one (use a periodic token or approle)';
    }
    if (this.auth.method === 'token') {
      return 'Vault token is invalid, expired or revoked; write a valid token into -token-file (it is read again at every login)';
    }
    return `Vault token from ${this.auth.method} login is invalid, expired or revoked right after the login`;
  }

  private async reloginFor(reason: string): Promise<void> {
    if (!this.auth.canObtainNewToken) {
      this.log.warn('Vault token will expire and token auth cannot renew or replace it', { reason });
      return;
    }
    this.log.info('logging in to Vault again', { reason });
    this.metrics.tokenRenewal('relogin');
    await this.login();
  }

  generation(): number {
    return this.tokenGeneration;
  }

  /**
   * Called when a request was refused with 401/403. Returns true when the
   * caller may retry once with a new token:
   *  - the token it used was already replaced meanwhile: retry, no login;
   *  - Vault said the token is invalid (expired, revoked): log in again, once
   *    for all concurrent callers;
   *  - a bare "permission denied" (a policy problem, or OpenBao, which does not
   *    say why): log in again at most every reloginMinIntervalMs, since a new
   *    token rarely fixes a policy.
   */
  async onTokenRejected(usedGeneration: number, tokenInvalid: boolean): Promise<boolean> {
    if (usedGeneration !== this.tokenGeneration) return true;
    if (this.relogin) return this.relogin;
    if (!tokenInvalid && this.clock.now() - this.lastRejectionLoginAt < this.settings.reloginMinIntervalMs) return false;
    this.lastRejectionLoginAt = this.clock.now();
    this.relogin = (async () => {
      try {
        this.log.warn('Vault rejected the token on a request, logging in again', { auth_method: this.auth.method });
        await this.login();
        return this.auth.canObtainNewToken;
      } catch {
        return false;
      } finally {
        this.relogin = undefined;
      }
    })();
    return this.relogin;
  }
}
