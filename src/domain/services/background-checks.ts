import { inject, injectable } from 'tsyringe';
import type { KeyRotationPort } from '../../ports/key-rotation.port';
import type { LoggerPort } from '../../ports/logger.port';
import type { RandomPort } from '../../ports/random.port';
import type { RepeatingTask, SchedulerPort } from '../../ports/scheduler.port';
import { TOKENS } from '../../ports/tokens';
import type { VaultRequestsPort } from '../../ports/vault-requests.port';
import type { CredentialCheck, CredentialUpkeep } from './credentials';
import { HealthMonitor } from './health-monitor';
import type { DomainSettings } from './settings';

/** The signals an operator sends a running plugin besides SIGTERM/SIGINT. */
export type OperatorSignal = 'SIGHUP' | 'SIGUSR1' | 'SIGUSR2';

/** What the operator's signals act on; the composition root fills it in from the configuration. */
export interface OperatorControls {
  /** The credential file SIGHUP reads again before logging in (undefined: none is configured). */
  readonly credentialFile: string | undefined;
  /** The key SIGUSR2 rotates (only the -dev backend has one). */
  readonly devKey: KeyRotationPort | undefined;
}

/**
 * When the background work runs and what sets it off: the token check
 * (login, lookup, renewal) every -token-refresh-interval; the full health
 * check every -health-check-interval, and at once after the first login, after
 * a failed first login, after a login the operator asked for, after a key
 * rotation, when a Vault request's outcome contradicts the verdict, and when
 * the cheap address check between two full checks finds no usable Vault.
 */
@injectable()
export class BackgroundChecks {
  /** The last token check failed: its own backoff is retrying it, so a failed health check leaves it alone. */
  private tokenCheckFailing = false;
  private tasks: { readonly health: RepeatingTask; readonly addresses: RepeatingTask; readonly tokens: RepeatingTask | undefined } | undefined;

  constructor(
    @inject(HealthMonitor) private readonly health: HealthMonitor,
    @inject(TOKENS.CredentialUpkeep) private readonly credentials: CredentialUpkeep,
    @inject(TOKENS.CredentialCheck) private readonly credentialCheck: CredentialCheck,
    @inject(TOKENS.OperatorControls) private readonly controls: OperatorControls,
    @inject(TOKENS.VaultRequests) vaultRequests: VaultRequestsPort,
    @inject(TOKENS.Scheduler) private readonly scheduler: SchedulerPort,
    @inject(TOKENS.Random) private readonly random: RandomPort,
    @inject(TOKENS.Logger) private readonly log: LoggerPort,
    @inject(TOKENS.DomainSettings) private readonly settings: DomainSettings,
  ) {
    vaultRequests.onOutcome((outcome) => {
      if (this.health.requestOutcome(outcome)) this.checkHealthNow();
    });
  }

  /** Starts the checks: the token check and the full health check at once, the quick address check after its interval. */
  start(): void {
    if (this.tasks) return;
    const s = this.settings.schedule;
    const tokens = this.credentials.kept
      ? this.scheduler.every(() => this.checkToken(), { intervalMs: s.tokenIntervalMs, minRetryMs: s.minRetryMs, runAtOnce: true })
      : undefined;
    // At once also with a token still to get: the address check can tell "Vault unreachable" before the first login ends.
    const health = this.scheduler.every(() => this.checkHealth(), {
      intervalMs: s.healthIntervalMs,
      minRetryMs: s.minRetryMs,
      maxRetryMs: s.healthMaxRetryMs,
      runAtOnce: true,
    });
    // A failed quick check is no reason to back off: it always succeeds as a task.
    const addresses = this.scheduler.every(
      async () => {
        if (await this.health.quickCheck()) this.checkHealthNow();
        return true;
      },
      { intervalMs: s.addressIntervalMs, minRetryMs: s.addressIntervalMs, runAtOnce: false },
    );
    this.tasks = { health, addresses, tokens };
  }

  /** Stops every check; resolves when the runs under way have ended. */
  async stop(): Promise<void> {
    const tasks = this.tasks;
    if (!tasks) return;
    await Promise.all([tasks.tokens?.stop(), tasks.health.stop(), tasks.addresses.stop()]);
  }

  /** SIGHUP: read the credential file again and log in; SIGUSR2: rotate the -dev key; anything else is logged and ignored. */
  signal(sig: OperatorSignal): void {
    const { devKey, credentialFile } = this.controls;
    if (sig === 'SIGUSR2' && devKey) {
      this.log.info('dev transit key rotated', { key_version: devKey.rotate() });
      this.checkHealthNow();
    } else if (sig === 'SIGHUP' && this.credentials.kept && credentialFile) {
      this.log.info('SIGHUP: reading the credential file again and logging in', { file: credentialFile });
      this.credentials.login().then(
        () => this.checkHealthNow(),
        (e) => this.log.warn('login after SIGHUP failed; the previous token stays in use', { error: (e as Error).message }),
      );
    } else {
      this.log.info(`${sig} ignored`, { signal: sig, reason: ignoredBecause(sig) });
    }
  }

  private async checkToken(): Promise<boolean> {
    const wasLoggedIn = this.credentials.isLoggedIn();
    try {
      await this.credentials.tick();
    } catch (e) {
      this.tokenCheckFailing = true;
      this.log.warn('Vault token check failed; retrying with backoff', { error: (e as Error).message });
      // A failed first login is a verdict too: Status must say so now, not after an interval.
      if (!wasLoggedIn) this.checkHealthNow();
      return false;
    }
    this.tokenCheckFailing = false;
    // The first login makes the first health check worth running now.
    if (!wasLoggedIn) this.checkHealthNow();
    return true;
  }

  private async checkHealth(): Promise<boolean> {
    const ok = await this.health.check((n) => this.random.bytes(n));
    // Credentials Vault refused (a revoked token, one not yet replaced in its file) while the token check last
    // succeeded: it runs now and, failing, retries with its own backoff, instead of waiting for its next
    // -token-refresh-interval. Never while it is failing already: each would set the other off at once.
    if (!ok && !this.tokenCheckFailing && !this.credentialCheck.credentialStatus().ok) this.tasks?.tokens?.poke();
    return ok;
  }

  /** Before start() there is nothing to hurry: the first health check runs at once anyway. */
  private checkHealthNow(): void {
    this.tasks?.health.poke();
  }
}

function ignoredBecause(sig: OperatorSignal): string {
  if (sig === 'SIGUSR1') return 'the Node.js inspector is never opened';
  if (sig === 'SIGUSR2') return 'only -dev rotates its key on SIGUSR2';
  return 'no credential file is configured (-token-file, -approle-secret-id-file, -userpass-password-file, -cert-pem, -cert-file, -jwt-token-path)';
}
