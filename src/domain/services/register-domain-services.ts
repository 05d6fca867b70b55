import type { DependencyContainer } from 'tsyringe';
import { TOKENS } from '../../ports/tokens';
import { NO_VAULT_ADDRESSES } from '../../ports/vault-addresses.port';
import { NO_VAULT_REQUESTS } from '../../ports/vault-requests.port';
import { KeyVersionTracker } from '../model/key-version-tracker';
import { BackgroundChecks } from './background-checks';
import { CoalescingTransit } from './coalescing-transit';
import { NEVER_RELOGIN, NO_CREDENTIALS_NEEDED, NO_CREDENTIALS_TO_KEEP } from './credentials';
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
 * composition roots and every test container call this, so the domain is
 * wired the same way everywhere; the implementations behind the ports
 * (TransitBackend, Clock, Logger, Metrics, DomainSettings, for
 * 'vault-token' AuthStrategy and TokenSession, and for BackgroundChecks
 * Scheduler, Random and OperatorControls) are the caller's choice.
 */
export function registerDomainServices(c: DependencyContainer, credentials: CredentialMode): void {
  // Without Vault (-dev, tests over fakes) the health check has no address to check and hears of no request.
  if (!c.isRegistered(TOKENS.VaultAddresses)) c.register(TOKENS.VaultAddresses, { useValue: NO_VAULT_ADDRESSES });
  if (!c.isRegistered(TOKENS.VaultRequests)) c.register(TOKENS.VaultRequests, { useValue: NO_VAULT_REQUESTS });
  c.registerSingleton(KeyVersionTracker);
  c.registerSingleton(HealthMonitor);
  c.registerSingleton(EnvelopeService);
  c.register(TOKENS.KmsService, { useToken: EnvelopeService });
  c.registerSingleton(CoalescingTransit);
  c.register(TOKENS.Transit, { useToken: CoalescingTransit });
  c.registerSingleton(BackgroundChecks);
  if (credentials === 'vault-token') {
    c.registerSingleton(TokenLifecycle);
    c.register(TOKENS.CredentialCheck, { useToken: TokenLifecycle });
    c.register(TOKENS.TokenRejectionHandler, { useToken: TokenLifecycle });
    c.register(TOKENS.CredentialUpkeep, { useToken: TokenLifecycle });
  } else {
    c.register(TOKENS.CredentialCheck, { useValue: NO_CREDENTIALS_NEEDED });
    c.register(TOKENS.TokenRejectionHandler, { useValue: NEVER_RELOGIN });
    c.register(TOKENS.CredentialUpkeep, { useValue: NO_CREDENTIALS_TO_KEEP });
  }
}
