import type { DependencyContainer } from 'tsyringe';
import { TOKENS } from '../../ports/tokens';
import { NO_VAULT_ADDRESSES } from '../../ports/vault-addresses.port';
import { KeyVersionTracker } from '../model/key-version-tracker';
import { CoalescingTransit } from './coalescing-transit';
import { CREDENTIALS_TOKENS, NEVER_RELOGIN, NO_CREDENTIALS_NEEDED } from './credentials';
import { EnvelopeService } from './envelope-service';
import { HealthMonitor } from './health-monitor';
import { TokenLifecycle } from './token-lifecycle';

/**
 * 'vault-token': a TokenLifecycle keeps a Vault token (needs AuthStrategy and
 * TokenSession registered). 'none': the backend needs no credentials (-dev).
 */
export type CredentialMode = 'vault-token' | 'none';

/**
 * Registers the domain services, one instance each per container. The
 * production composition root and every test container call this, so the
 * domain is wired the same way everywhere; the implementations behind the
 * ports (TransitBackend, Clock, Logger, Metrics, DomainSettings, and for
 * 'vault-token' AuthStrategy and TokenSession) are the caller's choice.
 */
export function registerDomainServices(c: DependencyContainer, credentials: CredentialMode): void {
  // Without Vault addresses (-dev, tests over fakes) the health check has none to check.
  if (!c.isRegistered(TOKENS.VaultAddresses)) c.register(TOKENS.VaultAddresses, { useValue: NO_VAULT_ADDRESSES });
  c.registerSingleton(KeyVersionTracker);
  c.registerSingleton(HealthMonitor);
  c.registerSingleton(EnvelopeService);
  c.register(TOKENS.KmsService, { useToken: EnvelopeService });
  c.registerSingleton(CoalescingTransit);
  c.register(TOKENS.Transit, { useToken: CoalescingTransit });
  if (credentials === 'vault-token') {
    c.registerSingleton(TokenLifecycle);
    c.register(CREDENTIALS_TOKENS.Check, { useToken: TokenLifecycle });
    c.register(CREDENTIALS_TOKENS.RejectionHandler, { useToken: TokenLifecycle });
  } else {
    c.register(CREDENTIALS_TOKENS.Check, { useValue: NO_CREDENTIALS_NEEDED });
    c.register(CREDENTIALS_TOKENS.RejectionHandler, { useValue: NEVER_RELOGIN });
  }
}
