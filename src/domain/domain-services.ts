import type { DependencyContainer } from 'tsyringe';
import { EnvelopeService } from './envelope-service';
import { HealthMonitor } from './health-monitor';
import { KeyVersionTracker } from './key-version-tracker';
import { TokenLifecycle } from './token-lifecycle';

/**
 * The domain's services, one instance each per container. The production
 * composition root and the test containers both call this, so a new service
 * is registered in one place; the ports behind them are the caller's choice.
 */
export function registerDomainServices(c: DependencyContainer): void {
  c.registerSingleton(KeyVersionTracker);
  c.registerSingleton(HealthMonitor);
  c.registerSingleton(EnvelopeService);
  c.registerSingleton(TokenLifecycle);
}
