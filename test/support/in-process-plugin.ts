import 'reflect-metadata';
import { join } from 'node:path';
import { container } from 'tsyringe';
import { TOKENS } from '../../src/ports/tokens';
import { NO_METRICS } from '../../src/ports/metrics.port';
import type { KmsServicePort } from '../../src/ports/kms-service.port';
import { HealthMonitor } from '../../src/domain/services/health-monitor';
import { registerDomainServices } from '../../src/domain/services/register-domain-services';
import { DevTransitAdapter } from '../../src/adapters/dev-transit/dev-transit.adapter';
import { KmsGrpcServer } from '../../src/adapters/grpc/grpc-server';
import { kmsV1Handlers, kmsV2Handlers } from '../../src/adapters/grpc/kms-handlers';
import { MemoryLogger, TEST_SETTINGS } from './fakes';
import { tempSocketDir } from './plugin-process';

/** The real gRPC adapter and domain over the dev transit backend, in this process: for high-volume input tests. */
export async function startInProcessPlugin() {
  const c = container.createChildContainer();
  const log = new MemoryLogger();
  c.register(TOKENS.Clock, { useValue: { now: () => Date.now() } });
  c.register(TOKENS.Logger, { useValue: log });
  c.register(TOKENS.Metrics, { useValue: NO_METRICS });
  c.register(TOKENS.DomainSettings, { useValue: TEST_SETTINGS });
  c.register(TOKENS.TransitBackend, { useValue: new DevTransitAdapter() });
  registerDomainServices(c, 'none');
  const kms = c.resolve<KmsServicePort>(TOKENS.KmsService);
  await c.resolve(HealthMonitor).check((n) => new Uint8Array(n));
  const socket = join(tempSocketDir(), 'kms.socket');
  const deps = { log, metrics: NO_METRICS };
  const server = new KmsGrpcServer(
    { socket: { path: socket, abstract: false }, socketMode: 0o600, forceOverwrite: false, v2: kmsV2Handlers(kms, deps), v1: kmsV1Handlers(kms, deps, 'test') },
    log,
  );
  await server.start();
  return { socket, log, stop: () => server.stop(1000) };
}
