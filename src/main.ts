import 'reflect-metadata';
import pkg from '../package.json';
import { ConfigError, type PluginConfig } from './adapters/config/config';
import { parseConfig } from './adapters/config/parse';
import { WinstonLogger } from './adapters/logging/winston-logger';
import { SecretRedactor } from './adapters/logging/secret-redactor';
import { KmsGrpcServer } from './adapters/grpc/grpc-server';
import { kmsV1Handlers, kmsV2Handlers } from './adapters/grpc/kms-handlers';
import { HealthHttpServer } from './adapters/health/health-http-server';
import { PeriodicTask } from './adapters/runtime/periodic-task';
import { PrometheusMetrics } from './adapters/metrics/prometheus-metrics';
import { randomBytes } from 'node:crypto';
import { container as rootContainer, type DependencyContainer } from 'tsyringe';
import { TOKENS } from './ports/tokens';
import type { ClockPort } from './ports/clock.port';
import type { LoggerPort } from './ports/logger.port';
import type { TransitPort } from './ports/transit.port';
import type { DomainSettings } from './domain/settings';
import { EnvelopeService } from './domain/envelope-service';
import { HealthMonitor } from './domain/health-monitor';
import { registerDomainServices } from './domain/domain-services';
import { TokenLifecycle } from './domain/token-lifecycle';
import { CoalescingTransit } from './domain/coalescing-transit';
import { DevTransitAdapter } from './adapters/dev-transit/dev-transit.adapter';
import { VaultHttpClient } from './adapters/vault/vault-http-client';
import { VaultTransitAdapter } from './adapters/vault/vault-transit.adapter';
import { VaultTokenSessionAdapter } from './adapters/vault/vault-token-session.adapter';
import { TokenAuthStrategy } from './adapters/auth/token-auth';
import { AppRoleAuthStrategy } from './adapters/auth/approle-auth';
import { VaultLoginAdapter } from './adapters/vault/vault-login.adapter';

export const VERSION: string = pkg.version;
const SHUTDOWN_GRACE_MS = 5000;

/** The wired object graph; main.ts starts and stops it. */
interface Wiring {
  readonly envelope: EnvelopeService;
  readonly health: HealthMonitor;
  readonly tokens: TokenLifecycle | undefined;
  readonly devTransit: DevTransitAdapter | undefined;
  readonly close: () => Promise<void>;
  readonly randomBytes: (n: number) => Uint8Array;
}

const SYSTEM_CLOCK: ClockPort = { now: () => Date.now() };

function domainSettings(config: PluginConfig): DomainSettings {
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

/** Chooses the implementations behind every port. This file is the only place that does. */
function wire(config: PluginConfig, log: LoggerPort, metrics: PrometheusMetrics, registerSecret: (s: string) => void): Wiring {
  const settings = domainSettings(config);
  const c: DependencyContainer = rootContainer.createChildContainer();
  c.register(TOKENS.Clock, { useValue: SYSTEM_CLOCK });
  c.register(TOKENS.Logger, { useValue: log });
  c.register(TOKENS.Metrics, { useValue: metrics });
  c.register(TOKENS.DomainSettings, { useValue: settings });
  registerDomainServices(c);

  let transit: TransitPort;
  let devTransit: DevTransitAdapter | undefined;
  let http: VaultHttpClient | undefined;
  if (config.auth.method === 'dev') {
    devTransit = new DevTransitAdapter();
    transit = devTransit;
  } else {
    http = new VaultHttpClient(config.vault, SYSTEM_CLOCK, registerSecret, (op, outcome, seconds) => metrics.vaultRequest(op, outcome, seconds));
    transit = new VaultTransitAdapter(http, config.transitMount, config.transitKey);
    c.register(TOKENS.TokenSession, { useValue: new VaultTokenSessionAdapter(http) });
    const auth = config.auth;
    c.register(TOKENS.AuthStrategy, {
      useValue:
        auth.method === 'token'
          ? new TokenAuthStrategy(auth.token, auth.tokenFile, registerSecret)
          : new AppRoleAuthStrategy(new VaultLoginAdapter(http), auth.mount, auth.roleId, auth.secretId, auth.secretIdFile, registerSecret),
    });
  }
  const coalesced = new CoalescingTransit(transit, settings.coalescing, SYSTEM_CLOCK.now, (op, n) => metrics.batchSize(op, n));
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

/** Runs the plugin until SIGTERM/SIGINT. Resolves to the process exit code. */
export async function main(argv: readonly string[], env: NodeJS.ProcessEnv): Promise<number> {
  let config: PluginConfig;
  try {
    const outcome = parseConfig(argv, env);
    if (outcome.kind === 'help') {
      process.stdout.write(outcome.text);
      return 0;
    }
    if (outcome.kind === 'version') {
      process.stdout.write(`vault-kubernetes-kms v${VERSION}\n`);
      return 0;
    }
    config = outcome.config;
  } catch (e) {
    if (e instanceof ConfigError) {
      process.stderr.write(`vault-kubernetes-kms: ${e.message}\nRun with -help to list every option.\n`);
      return 2;
    }
    throw e;
  }

  const redactor = new SecretRedactor();
  if (config.auth.method === 'token') redactor.register(config.auth.token);
  if (config.auth.method === 'approle') redactor.register(config.auth.secretId);
  const log = new WinstonLogger(redactor, config.debug);
  log.info('starting kms plugin', startupFields(config));
  if (config.dev) {
    log.warn('DEV MODE: in-process transit backend with an ephemeral key. NOT FOR PRODUCTION: everything encrypted is lost when the process exits.');
  } else if (config.vault.address.startsWith('http://')) {
    log.warn('Vault address uses plain http://: tokens and data keys cross the network unencrypted', { vault_address: config.vault.address });
  }
  if (config.vault.skipVerify) log.warn('VAULT_SKIP_VERIFY is set: the Vault server certificate is not verified');

  const metrics = new PrometheusMetrics();
  const app = wire(config, log, metrics, (s) => redactor.register(s));
  const deps = { log, metrics };
  const grpc = new KmsGrpcServer(
    {
      socket: config.socket,
      socketMode: config.socketMode,
      forceOverwrite: config.forceSocketOverwrite,
      v2: config.enableV2 ? kmsV2Handlers(app.envelope, deps) : undefined,
      v1: config.enableV1 ? kmsV1Handlers(app.envelope, deps, VERSION) : undefined,
    },
    log,
  );
  const healthServer = new HealthHttpServer(config.health, {
    live: () => grpc.isServing(),
    health: () => app.health.state.snapshot(Date.now()),
    metrics: () => metrics.exposition(),
  });

  try {
    await grpc.start();
  } catch (e) {
    log.error('cannot serve on the socket', { socket: config.socketUrl, error: (e as Error).message });
    await app.close();
    await log.flush();
    return 1;
  }
  log.info('listening for kube-apiserver', { socket: config.socketUrl, kms_v2: config.enableV2, kms_v1: config.enableV1 });
  try {
    const addr = await healthServer.start();
    log.info('health endpoints listening', { address: addr.address, port: addr.port });
  } catch (e) {
    log.error('cannot serve the health endpoints', { health_port: `${config.health.host}:${config.health.port}`, error: (e as Error).message });
    await grpc.stop(0);
    await app.close();
    await log.flush();
    return 1;
  }

  const healthTask = new PeriodicTask(() => app.health.check(app.randomBytes), config.healthCheckIntervalMs, 500);
  const tokenTask = app.tokens
    ? new PeriodicTask(async () => {
        const wasLoggedIn = app.tokens?.isLoggedIn();
        try {
          await app.tokens?.tick();
        } catch (e) {
          log.warn('Vault token check failed; retrying with backoff', { error: (e as Error).message });
          return false;
        }
        if (!wasLoggedIn) healthTask.poke();
        return true;
      }, config.tokenRefreshIntervalMs, 500)
    : undefined;
  tokenTask?.start();
  healthTask.start(!app.tokens);

  if (app.devTransit) {
    process.on('SIGUSR2', () => {
      const v = app.devTransit?.rotate();
      log.info('dev transit key rotated', { key_version: v });
      healthTask.poke();
    });
  }

  const signal = await new Promise<NodeJS.Signals>((resolve) => {
    process.once('SIGTERM', () => resolve('SIGTERM'));
    process.once('SIGINT', () => resolve('SIGINT'));
  });
  log.info('shutting down', { signal });
  await Promise.all([tokenTask?.stop(), healthTask.stop()]);
  await grpc.stop(SHUTDOWN_GRACE_MS);
  await healthServer.stop();
  await app.close();
  log.info('stopped');
  await log.flush();
  return 0;
}

/** The effective configuration, with every secret replaced by whether it is set. */
function startupFields(c: PluginConfig): Record<string, unknown> {
  const auth = c.auth;
  return {
    version: VERSION,
    dev: c.dev,
    'auth-method': auth.method,
    socket: c.socketUrl,
    'socket-mode': `0${c.socketMode.toString(8)}`,
    debug: c.debug,
    'vault-address': c.vault.address,
    'vault-namespace': c.vault.namespace ?? '',
    'vault-ca-cert': c.vault.caCertFile ?? '',
    'transit-mount': c.transitMount,
    'transit-key': c.transitKey,
    'health-port': `${c.health.host}:${c.health.port}`,
    'token-refresh-interval': `${c.tokenRefreshIntervalMs / 1000}s`,
    'token-renewal': c.tokenRenewalSeconds,
    'disable-v1': !c.enableV1,
    'disable-v2': !c.enableV2,
    ...(auth.method === 'token' ? { 'vault-token-set': Boolean(auth.token), 'token-file': auth.tokenFile ?? '' } : {}),
    ...(auth.method === 'approle'
      ? { 'approle-mount': auth.mount, 'approle-role-id': auth.roleId, 'approle-secret-id-set': Boolean(auth.secretId), 'approle-secret-id-file': auth.secretIdFile ?? '' }
      : {}),
  };
}

/** True when this file is the program: `node dist/src/main.js` or the single-executable artifact. */
function isEntryPoint(): boolean {
  if (require.main === module) return true;
  try {
    return (require('node:sea') as { isSea(): boolean }).isSea();
  } catch {
    return false;
  }
}

if (isEntryPoint()) {
  process.on('uncaughtException', (e) => {
    // Never print an arbitrary error object: it could carry request data.
    process.stderr.write(`vault-kubernetes-kms: fatal: ${e?.name ?? 'Error'}: ${String(e?.message ?? '').slice(0, 200)}\n`);
    process.exit(1);
  });
  main(process.argv.slice(2), process.env).then(
    (code) => process.exit(code),
    (e) => {
      process.stderr.write(`vault-kubernetes-kms: fatal: ${(e as Error)?.message ?? 'unknown error'}\n`);
      process.exit(1);
    },
  );
}
