import { container as rootContainer } from 'tsyringe';
import { ConfigError, type PluginConfig } from '../config/config';
import { credentialFile } from '../config/credential-files';
import { checkConfiguredFiles, parseConfig } from '../config/parse';
import { DevTransitAdapter } from '../adapters/dev-transit/dev-transit.adapter';
import { KmsGrpcServer } from '../adapters/grpc/grpc-server';
import { disabledV1Handlers, kmsV1Handlers, kmsV2Handlers } from '../adapters/grpc/kms-handlers';
import { HealthHttpServer } from '../adapters/health/health-http-server';
import { workloadEndpoint } from '../adapters/spiffe/workload-endpoint';
import { SecretRedactor } from '../adapters/logging/secret-redactor';
import { WinstonLogger } from '../adapters/logging/winston-logger';
import { PrometheusMetrics } from '../adapters/metrics/prometheus-metrics';
import type { EarlyExposure } from '../adapters/runtime/early-exposure';
import { SECRET_FLAGS, findSecretArguments } from '../adapters/runtime/process-exposure';
import { processSignals } from '../adapters/runtime/process-signals';
import { CRYPTO_RANDOM, SYSTEM_CLOCK } from '../adapters/runtime/system';
import { TIMER_SCHEDULER } from '../adapters/runtime/timer-scheduler';
import { VaultAddressChecker } from '../adapters/vault/vault-address-checker';
import { warnIfNamespaceIgnored } from '../adapters/vault/vault-edition';
import { VaultHttpClient } from '../adapters/vault/vault-http-client';
import { VaultRequestFeed } from '../adapters/vault/vault-requests';
import { VaultTokenSessionAdapter } from '../adapters/vault/vault-token-session.adapter';
import { VaultTransitAdapter } from '../adapters/vault/vault-transit.adapter';
import { BackgroundChecks, type OperatorControls } from '../domain/services/background-checks';
import { HealthMonitor } from '../domain/services/health-monitor';
import { registerDomainServices } from '../domain/services/register-domain-services';
import { domainSettings } from '../domain/services/settings';
import { withTimeout } from '../ports/call-context';
import type { KmsServicePort } from '../ports/kms-service.port';
import type { SecretSink } from '../ports/logger.port';
import { TOKENS } from '../ports/tokens';
import { serveHealthEndpoints } from './health-endpoints';
import { logStartup, type StartupExposure } from './startup-log';
import { VERSION, versionText } from './version';
import { authStrategy } from './vault-login';

/** How long in-flight calls may take to finish after SIGTERM/SIGINT. */
const SHUTDOWN_GRACE_MS = 5000;

/** The composed plugin: what start, wait and shut down act on. */
interface Plugin {
  readonly config: PluginConfig;
  readonly log: WinstonLogger;
  readonly metrics: PrometheusMetrics;
  readonly grpc: KmsGrpcServer;
  readonly healthServer: HealthHttpServer;
  readonly checks: BackgroundChecks;
  /** Releases the Vault connection pool, if any. */
  close(): Promise<void>;
}

/** Runs the plugin until SIGTERM/SIGINT, or prints -help or -version. Resolves to the process exit code. */
export async function runPlugin(argv: readonly string[], env: NodeJS.ProcessEnv, early: EarlyExposure): Promise<number> {
  const config = parsePluginArgs(argv, env);
  if (typeof config === 'number') return config;
  const plugin = composePlugin(config, { ...early, secretFlags: findSecretArguments(argv, SECRET_FLAGS).flags });
  // Listening since main.ts loaded: a SIGTERM that arrives during start-up still shuts down cleanly.
  const stopSignal = processSignals.stopped();
  if (!(await start(plugin))) return 1;
  await shutDown(plugin, await stopSignal);
  return 0;
}

/** The configuration, or the exit code when there is nothing to run (-help, -version, a bad flag). */
function parsePluginArgs(argv: readonly string[], env: NodeJS.ProcessEnv): PluginConfig | number {
  try {
    const outcome = parseConfig(argv, env);
    if (outcome.kind === 'help') {
      process.stdout.write(outcome.text + COMMANDS_HELP);
      return 0;
    }
    if (outcome.kind === 'version') {
      process.stdout.write(versionText());
      return 0;
    }
    checkConfiguredFiles(outcome.config);
    const auth = outcome.config.auth;
    if (auth.method === 'jwt' && auth.source.kind === 'spiffe') {
      // The Workload API address in full (what the config's shape check lets through, e.g. unix:relative, is refused here).
      try {
        workloadEndpoint(auth.source.endpoint);
      } catch (e) {
        throw new ConfigError(`invalid ${(e as Error).message}`);
      }
    }
    return outcome.config;
  } catch (e) {
    if (e instanceof ConfigError) {
      process.stderr.write(`vault-kubernetes-kms: ${e.message}\nRun with -help to list every option.\n`);
      return 2;
    }
    throw e;
  }
}

const COMMANDS_HELP = `
Commands (each has its own -help):
  vault-kubernetes-kms check [-output text|json] [-strict] [options]
        check the configuration, Vault, the token's capabilities, the key and the socket path once, and exit
  vault-kubernetes-kms client status|encrypt|decrypt [-socket ...]
        a debug client for the plugin's socket
`;

/**
 * Chooses the implementation behind every port and registers it in one
 * container, then builds the two servers at the edge over the services it
 * resolves; the `check` and `client` commands have roots of their own.
 * A Decrypt travels 8 files (docs/architecture.md has each step):
 *   socket -> grpc/grpc-server.ts (admission) -> grpc/kms-messages.ts (decode) -> grpc/kms-handlers.ts (unary: deadline signal)
 *   -> TOKENS.KmsService = services/envelope-service.ts (validate, relogin once)
 *   -> services/coalescing-transit.ts (SingleFlight for identical Decrypts; TOKENS.Transit = CoalescingTransit, the batching lane)
 *   -> TOKENS.TransitBackend = vault/vault-transit.adapter.ts -> vault/vault-http-client.ts -> Vault,
 *   and back through vault/vault-errors.ts (answers and failures become one KmsError) the same way.
 */
function composePlugin(config: PluginConfig, exposure: StartupExposure): Plugin {
  const redactor = new SecretRedactor();
  if (config.auth.method === 'token') redactor.pin(config.auth.token);
  if (config.auth.method === 'approle') redactor.pin(config.auth.secretId);
  if (config.auth.method === 'userpass') redactor.pin(config.auth.password);
  const registerSecret: SecretSink = (s, origin) => redactor.register(s, origin);
  const log = new WinstonLogger(redactor, config.debug);
  logStartup(config, log, exposure);
  const metrics = new PrometheusMetrics();

  const c = rootContainer.createChildContainer();
  c.register(TOKENS.Clock, { useValue: SYSTEM_CLOCK });
  c.register(TOKENS.Scheduler, { useValue: TIMER_SCHEDULER });
  c.register(TOKENS.Random, { useValue: CRYPTO_RANDOM });
  c.register(TOKENS.Logger, { useValue: log });
  c.register(TOKENS.Metrics, { useValue: metrics });
  c.register(TOKENS.DomainSettings, { useValue: domainSettings(config) });

  const auth = config.auth;
  let vault: VaultHttpClient | undefined;
  let devKey: DevTransitAdapter | undefined;
  if (auth.method === 'dev') {
    devKey = new DevTransitAdapter();
    c.register(TOKENS.TransitBackend, { useValue: devKey });
  } else {
    const requests = new VaultRequestFeed();
    let addressInUse: string | undefined = config.vault.address;
    vault = new VaultHttpClient(
      config.vault,
      SYSTEM_CLOCK,
      registerSecret,
      (op, outcome, seconds, status) => {
        metrics.vaultRequest(op, outcome, seconds);
        requests.ended(status);
      },
      (from, to) => log.info('following Vault redirects to another origin (logged once per origin)', { from, to }),
      (states) => {
        metrics.vaultAddressInUse(states);
        const inUse = states.find((s) => s.current)?.address;
        if (inUse === addressInUse) return;
        addressInUse = inUse;
        log.info('Vault requests now go to another address', { in_use: inUse, down: states.filter((s) => !s.up).map((s) => `${s.address} (${s.reason})`) });
      },
    );
    const http = vault;
    c.register(TOKENS.VaultRequests, { useValue: requests });
    c.register(TOKENS.VaultAddresses, { useValue: new VaultAddressChecker(http.endpoints) });
    c.register(TOKENS.TransitBackend, { useValue: new VaultTransitAdapter(http, config.transitMount, config.transitKey) });
    c.register(TOKENS.TokenSession, { useValue: new VaultTokenSessionAdapter(http) });
    c.register(TOKENS.AuthStrategy, {
      useValue: authStrategy(auth, http, config.vault, registerSecret, (op, outcome, seconds) => metrics.vaultRequest(op, outcome, seconds)),
    });
  }
  const controls: OperatorControls = { credentialFile: credentialFile(config), devKey };
  c.register(TOKENS.OperatorControls, { useValue: controls });
  registerDomainServices(c, auth.method === 'dev' ? 'none' : 'vault-token');

  const kms = c.resolve<KmsServicePort>(TOKENS.KmsService);
  const deps = { log, metrics };
  const grpc = new KmsGrpcServer(
    {
      socket: config.socket,
      socketMode: config.socketMode,
      forceOverwrite: config.forceSocketOverwrite,
      v2: config.enableV2 ? kmsV2Handlers(kms, deps) : undefined,
      v1: config.enableV1 ? kmsV1Handlers(kms, deps, VERSION) : disabledV1Handlers(deps.log),
    },
    log,
  );
  const health = c.resolve(HealthMonitor);
  const healthServer = new HealthHttpServer(config.health, {
    live: () => grpc.isServing(),
    health: () => health.state.snapshot(Date.now()),
    metrics: () => metrics.exposition(),
  });

  if (vault) metrics.vaultAddressInUse(vault.endpoints.states());
  // Vault's Community Edition would serve a namespaced configuration from the root namespace: say so at once.
  if (vault && config.vault.namespace) void warnIfNamespaceIgnored(vault, config.vault.namespace, log, withTimeout(Date.now(), 5000));
  return {
    config,
    log,
    metrics,
    grpc,
    healthServer,
    checks: c.resolve(BackgroundChecks),
    close: async () => {
      await vault?.close();
    },
  };
}

/**
 * Starts the background checks and serves the socket and the health endpoints. The first
 * Vault check (login, then the health check) runs while the socket binds, so the first
 * Status can say ok sooner. False when serving failed (the checks are stopped again).
 */
async function start(plugin: Plugin): Promise<boolean> {
  const { config, log, checks } = plugin;
  checks.start();
  processSignals.handleControl((sig) => checks.signal(sig));
  try {
    await plugin.grpc.start();
  } catch (e) {
    log.error('cannot serve on the socket', { socket: config.socketUrl, error: (e as Error).message });
    // Not awaited: a check under way could take its whole timeout, and the process exits next anyway.
    void checks.stop();
    plugin.close().catch(() => {});
    await log.flush();
    return false;
  }
  log.info('listening for kube-apiserver', { socket: config.socketUrl, kms_v2: config.enableV2, kms_v1: config.enableV1 });
  serveHealthEndpoints(plugin.healthServer, config.health, log, plugin.metrics);
  return true;
}

/** Stops the checks, lets in-flight calls finish, removes the socket. */
async function shutDown(plugin: Plugin, signal: NodeJS.Signals): Promise<void> {
  const { log } = plugin;
  log.info('shutting down', { signal });
  await plugin.checks.stop();
  await plugin.grpc.stop(SHUTDOWN_GRACE_MS);
  await plugin.healthServer.stop();
  await plugin.close();
  log.info('stopped');
  await log.flush();
}
