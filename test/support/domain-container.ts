import 'reflect-metadata';
import { container } from 'tsyringe';
import { TOKENS } from '../../src/ports/tokens';
import { NO_METRICS } from '../../src/ports/metrics.port';
import type { VaultAddressesPort } from '../../src/ports/vault-addresses.port';
import { EnvelopeService } from '../../src/domain/services/envelope-service';
import { HealthMonitor } from '../../src/domain/services/health-monitor';
import { KeyVersionTracker } from '../../src/domain/model/key-version-tracker';
import { TokenLifecycle } from '../../src/domain/services/token-lifecycle';
import { registerDomainServices } from '../../src/domain/services/register-domain-services';
import { FakeAuth, FakeClock, FakeSession, FakeTransit, MemoryLogger, TEST_SETTINGS } from './fakes';

/** The test wiring: the real domain services over fake ports, registered as the plugin's composition root (src/compose/plugin.ts) registers them. */
export function domainWithFakes(opts: { vaultAddresses?: VaultAddressesPort } = {}) {
  const c = container.createChildContainer();
  if (opts.vaultAddresses) c.register(TOKENS.VaultAddresses, { useValue: opts.vaultAddresses });
  const clock = new FakeClock();
  const transit = new FakeTransit();
  const session = new FakeSession();
  const auth = new FakeAuth();
  const log = new MemoryLogger();
  c.register(TOKENS.Clock, { useValue: clock });
  c.register(TOKENS.Logger, { useValue: log });
  c.register(TOKENS.Metrics, { useValue: NO_METRICS });
  c.register(TOKENS.DomainSettings, { useValue: TEST_SETTINGS });
  c.register(TOKENS.TransitBackend, { useValue: transit });
  c.register(TOKENS.TokenSession, { useValue: session });
  c.register(TOKENS.AuthStrategy, { useValue: auth });
  registerDomainServices(c, 'vault-token');
  return {
    envelope: c.resolve(EnvelopeService),
    health: c.resolve(HealthMonitor),
    tokens: c.resolve(TokenLifecycle),
    keys: c.resolve(KeyVersionTracker),
    clock,
    transit,
    session,
    auth,
    log,
  };
}

export const fixedBytes = (n: number) => new Uint8Array(n).fill(7);
