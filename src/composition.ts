import 'reflect-metadata';
import { randomBytes } from 'node:crypto';
import { container as rootContainer, type DependencyContainer } from 'tsyringe';
import { TOKENS } from './ports/tokens';
import type { ClockPort } from './ports/clock.port';
import type { LoggerPort } from './ports/logger.port';
import type { MetricsPort } from './ports/metrics.port';
import type { TransitPort } from './ports/transit.port';
import type { DomainSettings } from './domain/settings';
import { EnvelopeService } from './domain/envelope-service';
import { HealthMonitor } from './domain/health-monitor';
import { KeyVersionTracker } from './domain/key-version-tracker';
import { TokenLifecycle } from './domain/token-lifecycle';
import { CoalescingTransit } from './domain/coalescing-transit';
import type { PluginConfig } from './adapters/config/config';
import { DevTransitAdapter } from './adapters/dev-transit/dev-transit.adapter';
import { VaultHttpClient } from './adapters/vault/vault-http-client';
import { VaultTransitAdapter } from './adapters/vault/vault-transit.adapter';
import { VaultTokenSessionAdapter } from './adapters/vault/vault-token-session.adapter';
import { TokenAuthStrategy } from './adapters/auth/token-auth';
import { AppRoleAuthStrategy } from './adapters/auth/approle-auth';

/** The wired object graph; main.ts starts and stops it. */
export interface Wiring {
  readonly envelope: EnvelopeService;
  readonly health: HealthMonitor;
  readonly tokens: TokenLifecycle | undefined;
  readonly devTransit: DevTransitAdapter | undefined;
  readonly close: () => Promise<void>;
  readonly randomBytes: (n: number) => Uint8Array;
}

export const SYSTEM_CLOCK: ClockPort = { now: () => Date.now() };

export function domainSettings(config: PluginConfig): DomainSettings {
  return {
    renewal: { incrementSeconds: config.tokenRenewalSeconds, checkIntervalSeconds: config.tokenRefreshIntervalMs / 1000 },
    // Three missed checks in a row before a stale success stops counting.
    healthMaxAgeMs: 3 * config.healthCheckIntervalMs + 5000,
    reloginMinIntervalMs: 2000,
    backgroundTimeoutMs: 10_000,
    // Eight parallel Vault requests keep latency flat at low load; beyond that, batches of up to 128.
    coalescing: { maxInFlight: 8, maxBatch: 128 },
  };
}

/** Chooses the implementations behind every port. The only place that does. */
export function wire(config: PluginConfig, log: LoggerPort, metrics: MetricsPort, registerSecret: (s: string) => void): Wiring {
  const c: DependencyContainer = rootContainer.createChildContainer();
  c.register(TOKENS.Clock, { useValue: SYSTEM_CLOCK });
  c.register(TOKENS.Logger, { useValue: log });
  c.register(TOKENS.Metrics, { useValue: metrics });
  c.register(TOKENS.DomainSettings, { useValue: domainSettings(config) });
  c.registerSingleton(KeyVersionTracker);
  c.registerSingleton(HealthMonitor);
  c.registerSingleton(EnvelopeService);
  c.registerSingleton(TokenLifecycle);

  let transit: TransitPort;
  let devTransit: DevTransitAdapter | undefined;
  let http: VaultHttpClient | undefined;
  if (config.auth.method === 'dev') {
    devTransit = new DevTransitAdapter();
    transit = devTransit;
  } else {
    http = new VaultHttpClient(config.vault, SYSTEM_CLOCK, registerSecret);
    transit = new VaultTransitAdapter(http, config.transitMount, config.transitKey);
    c.register(TOKENS.TokenSession, { useValue: new VaultTokenSessionAdapter(http) });
    const auth = config.auth;
    c.register(TOKENS.AuthStrategy, {
      useValue:
        auth.method === 'token'
          ? new TokenAuthStrategy(auth.token, auth.tokenFile, registerSecret)
          : new AppRoleAuthStrategy(http, auth.mount, auth.roleId, auth.secretId, auth.secretIdFile, registerSecret),
    });
  }
  const settings = domainSettings(config);
  const coalesced = new CoalescingTransit(transit, settings.coalescing, () => Date.now(), (op, n) => metrics.batchSize(op, n));
  c.register(TOKENS.Transit, { useValue: coalesced });

  const envelope = c.resolve(EnvelopeService);
  const health = c.resolve(HealthMonitor);
  const tokens = http ? c.resolve(TokenLifecycle) : undefined;
  if (tokens) {
    health.useCredentialCheck(tokens);
    envelope.useTokenRejectionHandler(tokens);
  }
  return {
    envelope,
    health,
    tokens,
    devTransit,
    randomBytes: (n) => randomBytes(n),
    close: async () => {
      await http?.close();
    },
  };
}
