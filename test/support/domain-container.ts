import 'reflect-metadata';
import { container } from 'tsyringe';
import { TOKENS } from '../../src/ports/tokens';
import { NO_METRICS } from '../../src/ports/metrics.port';
import { EnvelopeService } from '../../src/domain/envelope-service';
import { HealthMonitor } from '../../src/domain/health-monitor';
import { KeyVersionTracker } from '../../src/domain/key-version-tracker';
import { TokenLifecycle } from '../../src/domain/token-lifecycle';
import { registerDomainServices } from '../../src/domain/domain-services';
import { FakeAuth, FakeClock, FakeSession, FakeTransit, MemoryLogger, TEST_SETTINGS } from './fakes';

/** The test wiring: the real domain services over fake ports, in a child container. */
export function domainWithFakes() {
  const c = container.createChildContainer();
  const clock = new FakeClock();
  const transit = new FakeTransit();
  const session = new FakeSession();
  const auth = new FakeAuth();
  const log = new MemoryLogger();
  c.register(TOKENS.Clock, { useValue: clock });
  c.register(TOKENS.Logger, { useValue: log });
  c.register(TOKENS.Metrics, { useValue: NO_METRICS });
  c.register(TOKENS.DomainSettings, { useValue: TEST_SETTINGS });
  c.register(TOKENS.Transit, { useValue: transit });
  c.register(TOKENS.TokenSession, { useValue: session });
  c.register(TOKENS.AuthStrategy, { useValue: auth });
  registerDomainServices(c);
  const envelope = c.resolve(EnvelopeService);
  const health = c.resolve(HealthMonitor);
  const tokens = c.resolve(TokenLifecycle);
  health.useCredentialCheck(tokens);
  envelope.useTokenRejectionHandler(tokens);
  return { envelope, health, tokens, clock, transit, session, auth, log, keys: c.resolve(KeyVersionTracker) };
}

export const fixedBytes = (n: number) => new Uint8Array(n).fill(7);
