import 'reflect-metadata';
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { container } from 'tsyringe';
import { KmsError } from '../../src/ports/errors';
import { NO_METRICS } from '../../src/ports/metrics.port';
import { TOKENS } from '../../src/ports/tokens';
import type { VaultAddressCheck } from '../../src/ports/vault-addresses.port';
import type { VaultRequestOutcome } from '../../src/ports/vault-requests.port';
import { BackgroundChecks, type OperatorControls } from '../../src/domain/services/background-checks';
import { HealthMonitor } from '../../src/domain/services/health-monitor';
import { registerDomainServices, type CredentialMode } from '../../src/domain/services/register-domain-services';
import { FakeScheduler } from '../support/fake-scheduler';
import { FakeAuth, FakeClock, FakeSession, FakeTransit, MemoryLogger, TEST_SETTINGS } from '../support/fakes';

const SCHEDULE = TEST_SETTINGS.schedule;

/** The real domain services over fakes, with time in the test's hands (FakeScheduler on FakeClock). */
function checksWithFakes(opts: { credentials?: CredentialMode; controls?: Partial<OperatorControls>; addressesUp?: () => boolean } = {}) {
  const c = container.createChildContainer();
  const clock = new FakeClock();
  const scheduler = new FakeScheduler(clock);
  const transit = new FakeTransit();
  const auth = new FakeAuth();
  const log = new MemoryLogger();
  const listeners: ((o: VaultRequestOutcome) => void)[] = [];
  let loginGate: Promise<void> | undefined;
  c.register(TOKENS.Clock, { useValue: clock });
  c.register(TOKENS.Scheduler, { useValue: scheduler });
  c.register(TOKENS.Random, { useValue: { bytes: (n: number) => new Uint8Array(n).fill(7) } });
  c.register(TOKENS.Logger, { useValue: log });
  c.register(TOKENS.Metrics, { useValue: NO_METRICS });
  c.register(TOKENS.DomainSettings, { useValue: TEST_SETTINGS });
  c.register(TOKENS.TransitBackend, { useValue: transit });
  const session = new FakeSession();
  c.register(TOKENS.TokenSession, { useValue: session });
  c.register(TOKENS.AuthStrategy, {
    useValue: {
      method: auth.method,
      canObtainNewToken: true,
      login: async () => {
        await loginGate;
        return auth.login();
      },
    },
  });
  c.register(TOKENS.VaultRequests, { useValue: { onOutcome: (l: (o: VaultRequestOutcome) => void) => listeners.push(l) } });
  c.register(TOKENS.OperatorControls, { useValue: { credentialFile: undefined, devKey: undefined, ...opts.controls } });
  if (opts.addressesUp) {
    const up = opts.addressesUp;
    c.register(TOKENS.VaultAddresses, {
      useValue: { addresses: () => ['https://vault-1:8200'], checkAll: async (): Promise<VaultAddressCheck[]> => [{ address: 'https://vault-1:8200', ok: up(), detail: up() ? 'active' : 'connection refused' }] },
    });
  }
  registerDomainServices(c, opts.credentials ?? 'vault-token');
  const health = c.resolve(HealthMonitor);
  return {
    checks: c.resolve(BackgroundChecks),
    health,
    clock,
    scheduler,
    transit,
    auth,
    session,
    log,
    holdLogins: () => {
      let release = () => {};
      loginGate = new Promise<void>((r) => (release = r));
      return () => {
        loginGate = undefined;
        release();
      };
    },
    requestEnded: (o: VaultRequestOutcome) => listeners.forEach((l) => l(o)),
    verdict: () => (health.state.hasVerdict() ? health.state.snapshot(clock.now()) : undefined),
    /** Full health checks so far: each reads the key once. */
    healthChecks: () => transit.calls.readKey,
  };
}

describe('background checks (token and health schedule, operator signals)', () => {
  it('runs the health check right after the first login, not a retry later', async () => {
    const d = checksWithFakes();
    const release = d.holdLogins();
    d.checks.start();
    await d.scheduler.advance(0);
    // The first health check ran while the login was under way: nothing true to say about the credentials yet.
    assert.equal(d.verdict(), undefined);
    release();
    await d.scheduler.advance(0);
    assert.equal(d.verdict()?.healthy, true, 'the login ended at this instant; the health check must follow at once');
  });

  it('says at once that the first login failed, and retries it with backoff', async () => {
    const d = checksWithFakes();
    const release = d.holdLogins();
    d.auth.failWith = new KmsError('permission-denied', 'invalid role ID');
    d.checks.start();
    await d.scheduler.advance(0);
    assert.equal(d.verdict(), undefined);
    release();
    await d.scheduler.advance(0);
    assert.equal(d.verdict()?.healthy, false);
    assert.match(d.verdict()?.reason ?? '', /invalid role ID/);
    assert.ok(d.log.lines.some((l) => l.level === 'warn' && l.message === 'Vault token check failed; retrying with backoff'));
    // Retried after minRetryMs, not after the whole token interval.
    const logins = d.auth.logins;
    await d.scheduler.advance(SCHEDULE.minRetryMs);
    assert.equal(d.auth.logins, logins + 1);
  });

  it('checks the token every token interval and the health every health interval while both succeed', async () => {
    const d = checksWithFakes();
    d.checks.start();
    await d.scheduler.advance(0);
    const [tokens, health, addresses] = d.scheduler.tasks;
    assert.deepEqual(
      [tokens.schedule, health.schedule, addresses.schedule],
      [
        { intervalMs: SCHEDULE.tokenIntervalMs, minRetryMs: SCHEDULE.minRetryMs, runAtOnce: true },
        { intervalMs: SCHEDULE.healthIntervalMs, minRetryMs: SCHEDULE.minRetryMs, maxRetryMs: SCHEDULE.healthMaxRetryMs, runAtOnce: true },
        { intervalMs: SCHEDULE.addressIntervalMs, minRetryMs: SCHEDULE.addressIntervalMs, runAtOnce: false },
      ],
    );
    const checks = d.healthChecks();
    await d.scheduler.advance(SCHEDULE.healthIntervalMs);
    assert.equal(d.healthChecks(), checks + 1);
  });

  it('checks health at once when a Vault request contradicts the verdict', async () => {
    const d = checksWithFakes();
    d.checks.start();
    await d.scheduler.advance(0);
    assert.equal(d.verdict()?.healthy, true);
    const checks = d.healthChecks();
    d.requestEnded('answered');
    await d.scheduler.advance(0);
    assert.equal(d.healthChecks(), checks, 'an answer agrees with "healthy"');
    d.requestEnded('failed');
    await d.scheduler.advance(0);
    assert.equal(d.healthChecks(), checks + 1);
  });

  it('checks health at once when the quick address check finds no usable Vault', async () => {
    let up = true;
    const d = checksWithFakes({ addressesUp: () => up });
    d.checks.start();
    await d.scheduler.advance(0);
    assert.equal(d.verdict()?.healthy, true);
    const health = d.scheduler.tasks[1];
    const runs = health.runs;
    up = false;
    await d.scheduler.advance(SCHEDULE.addressIntervalMs);
    assert.equal(d.verdict()?.healthy, false);
    assert.ok(SCHEDULE.addressIntervalMs < SCHEDULE.healthIntervalMs);
    assert.equal(health.runs, runs + 1, 'the full check ran right after the quick one, before its interval');
  });

  it('a token revoked, then replaced in its file, is used again within seconds, not at the next token interval', async () => {
    const d = checksWithFakes();
    d.checks.start();
    await d.scheduler.advance(0);
    assert.equal(d.verdict()?.healthy, true);
    const revoked = new KmsError('permission-denied', 'permission denied', { tokenInvalid: true });
    // Revoked: Vault refuses the token on every request, and the file still holds the same token.
    d.transit.failWith = revoked;
    d.session.lookupError = revoked;
    await d.scheduler.advance(SCHEDULE.healthIntervalMs);
    assert.equal(d.verdict()?.healthy, false);
    // A new token is written to the file: the next login succeeds and Vault accepts it.
    d.transit.failWith = undefined;
    d.session.lookupError = undefined;
    const elapsed = 4 * SCHEDULE.healthMaxRetryMs;
    assert.ok(elapsed < SCHEDULE.tokenIntervalMs / 2);
    await d.scheduler.advance(elapsed);
    assert.equal(d.verdict()?.healthy, true, 'healthy again before the token interval came round');
  });

  it('SIGHUP with a credential file logs in again, then checks health', async () => {
    const d = checksWithFakes({ controls: { credentialFile: '/etc/kms/secret-id' } });
    d.checks.start();
    await d.scheduler.advance(0);
    const logins = d.auth.logins;
    const checks = d.healthChecks();
    d.checks.signal('SIGHUP');
    await d.scheduler.advance(0);
    assert.equal(d.auth.logins, logins + 1);
    assert.equal(d.healthChecks(), checks + 1);
    assert.ok(d.log.lines.some((l) => l.message === 'SIGHUP: reading the credential file again and logging in' && l.fields?.file === '/etc/kms/secret-id'));
  });

  it('SIGHUP whose login fails keeps the previous token and says so', async () => {
    const d = checksWithFakes({ controls: { credentialFile: '/etc/kms/secret-id' } });
    d.checks.start();
    await d.scheduler.advance(0);
    d.auth.failWith = new KmsError('permission-denied', 'invalid secret ID');
    d.checks.signal('SIGHUP');
    await d.scheduler.advance(0);
    assert.ok(d.log.lines.some((l) => l.level === 'warn' && l.message === 'login after SIGHUP failed; the previous token stays in use'));
  });

  it('SIGHUP without a credential file, and with the dev backend, is logged and ignored', async () => {
    for (const credentials of ['vault-token', 'none'] as const) {
      const d = checksWithFakes({ credentials, controls: { credentialFile: credentials === 'none' ? '/ignored' : undefined } });
      d.checks.start();
      await d.scheduler.advance(0);
      const logins = d.auth.logins;
      d.checks.signal('SIGHUP');
      await d.scheduler.advance(0);
      assert.equal(d.auth.logins, logins);
      assert.ok(d.log.lines.some((l) => l.message === 'SIGHUP ignored' && /no credential file/.test(String(l.fields?.reason))), credentials);
    }
  });

  it('SIGUSR2 rotates the dev key and checks health at once; without one it is ignored', async () => {
    let version = 1;
    const d = checksWithFakes({ credentials: 'none', controls: { devKey: { rotate: () => ++version } } });
    d.checks.start();
    await d.scheduler.advance(0);
    const checks = d.healthChecks();
    d.checks.signal('SIGUSR2');
    await d.scheduler.advance(0);
    assert.equal(version, 2);
    assert.equal(d.healthChecks(), checks + 1);
    assert.ok(d.log.lines.some((l) => l.message === 'dev transit key rotated' && l.fields?.key_version === 2));

    const vault = checksWithFakes();
    vault.checks.start();
    vault.checks.signal('SIGUSR2');
    vault.checks.signal('SIGUSR1');
    assert.ok(vault.log.lines.some((l) => l.message === 'SIGUSR2 ignored' && /only -dev/.test(String(l.fields?.reason))));
    assert.ok(vault.log.lines.some((l) => l.message === 'SIGUSR1 ignored' && /inspector/.test(String(l.fields?.reason))));
  });

  it('keeps no token with the dev backend, and stop() ends every check', async () => {
    const d = checksWithFakes({ credentials: 'none' });
    d.checks.start();
    assert.equal(d.scheduler.tasks.length, 2, 'health and addresses only');
    await d.scheduler.advance(0);
    assert.equal(d.auth.logins, 0);
    await d.checks.stop();
    const checks = d.healthChecks();
    await d.scheduler.advance(10 * SCHEDULE.healthIntervalMs);
    assert.equal(d.healthChecks(), checks);
  });
});
