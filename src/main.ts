// First: signal listeners exist before any other module loads (SIGUSR1 must never open the inspector).
import { processSignals, type ControlSignal } from './adapters/runtime/process-signals';
// Second: credentials given as flags leave the process title, and memory leaves core dumps, before the rest loads.
import { earlyExposure, type EarlyExposure } from './adapters/runtime/early-exposure';
import 'reflect-metadata';
import { randomBytes } from 'node:crypto';
import { container as rootContainer, instanceCachingFactory, type DependencyContainer } from 'tsyringe';
import pkg from '../package.json';
import { checkCommand, type ComposedCheck } from './adapters/cli-check/check-command';
import type { InsecureSetup } from './adapters/cli-check/doctor';
import { clientCommand } from './adapters/cli-client/client-command';
import { ConfigError, type PluginConfig } from './adapters/config/config';
import { OPTION_BY_FLAG } from './adapters/config/options';
import { checkConfiguredFiles, parseConfig } from './adapters/config/parse';
import { parseDurationMs, parseSocketUrl } from './adapters/config/values';
import { startupFields } from './adapters/config/startup-fields';
import { DevTransitAdapter } from './adapters/dev-transit/dev-transit.adapter';
import { KmsGrpcServer } from './adapters/grpc/grpc-server';
import { KmsSocketClient } from './adapters/grpc/kms-socket-client';
import { disabledV1Handlers, kmsV1Handlers, kmsV2Handlers } from './adapters/grpc/kms-handlers';
import { HealthHttpServer } from './adapters/health/health-http-server';
import { SecretRedactor } from './adapters/logging/secret-redactor';
import { WinstonLogger } from './adapters/logging/winston-logger';
import { PrometheusMetrics } from './adapters/metrics/prometheus-metrics';
import { PeriodicTask } from './adapters/runtime/periodic-task';
import { SECRET_FLAGS, findSecretArguments } from './adapters/runtime/process-exposure';
import { AppRoleAuthStrategy } from './adapters/vault/auth/approle-auth';
import { CertAuthStrategy } from './adapters/vault/auth/cert-auth';
import { SpiffeJwtSource } from './adapters/spiffe/spiffe-jwt-source';
import { workloadEndpoint } from './adapters/spiffe/workload-endpoint';
import { FileJwtSource, JwtAuthStrategy } from './adapters/vault/auth/jwt-auth';
import { UserpassAuthStrategy } from './adapters/vault/auth/userpass-auth';
import { TokenAuthStrategy } from './adapters/vault/auth/token-auth';
import { credentialFileExposure } from './adapters/vault/auth/secret-file';
import { VaultAddressChecker } from './adapters/vault/vault-address-checker';
import { VaultDiagnosticsAdapter } from './adapters/vault/vault-diagnostics.adapter';
import { warnIfNamespaceIgnored } from './adapters/vault/vault-edition';
import { VaultHttpClient } from './adapters/vault/vault-http-client';
import { VaultTokenSessionAdapter } from './adapters/vault/vault-token-session.adapter';
import { VaultTransitAdapter } from './adapters/vault/vault-transit.adapter';
import { HealthMonitor, type VaultRequestOutcome } from './domain/services/health-monitor';
import { registerDomainServices } from './domain/services/register-domain-services';
import type { DomainSettings } from './domain/services/settings';
import { TokenLifecycle } from './domain/services/token-lifecycle';
import { BUILD_COMMIT } from './build-info.generated';
import type { AuthStrategyPort } from './ports/auth.port';
import type { ClockPort } from './ports/clock.port';
import type { KmsServicePort } from './ports/kms-service.port';
import type { SecretSink } from './ports/logger.port';
import { withTimeout } from './ports/call-context';
import { TOKENS } from './ports/tokens';

export const VERSION: string = pkg.version;
const SHUTDOWN_GRACE_MS = 5000;
const SYSTEM_CLOCK: ClockPort = { now: () => Date.now() };

/** The composed plugin: what start, wait and shut down act on. */
interface Plugin {
  readonly config: PluginConfig;
  readonly log: WinstonLogger;
  readonly metrics: PrometheusMetrics;
  readonly grpc: KmsGrpcServer;
  readonly healthServer: HealthHttpServer;
  readonly health: HealthMonitor;
  /** Absent with -dev: the dev backend needs no credentials. */
  readonly tokens: TokenLifecycle | undefined;
  readonly devTransit: DevTransitAdapter | undefined;
  /** Runs the health check at once; set when the background tasks start. */
  readonly recheck: { now: () => void };
  /** Releases the Vault connection pool, if any. */
  close(): Promise<void>;
}

/** What start-up did to keep secrets out of the process list and core dumps, for the start-up log. */
export type ProcessExposure = EarlyExposure;


/** Runs the plugin until SIGTERM/SIGINT. Resolves to the process exit code. */
export async function main(argv: readonly string[], env: NodeJS.ProcessEnv, exposure: ProcessExposure = { coreDumpFilterError: 'not attempted' }): Promise<number> {
  if (argv[0] === 'check' || argv[0] === 'client') {
    // The one-shot tools stop at once on Ctrl-C or SIGTERM: they serve nothing that needs a clean shutdown.
    void processSignals.stopped().then((s) => process.exit(s === 'SIGINT' ? 130 : 143));
  }
  if (argv[0] === 'check') return checkCommand(argv.slice(1), (rest) => composeCheck(rest, env), STDIO);
  if (argv[0] === 'client') return clientCommand(argv.slice(1), clientDeps(env));
  const parsed = parse(argv, env);
  if (typeof parsed === 'number') return parsed;
  const plugin = compose(parsed, { ...exposure, secretFlags: findSecretArguments(argv, SECRET_FLAGS).flags });
  // Listening since this module loaded: a SIGTERM that arrives during start-up still shuts down cleanly.
  const stopSignal = processSignals.stopped();
  const tasks = await start(plugin);
  if (!tasks) return 1;
  await shutDown(plugin, tasks, await stopSignal);
  return 0;
}

/** The configuration, or the exit code when there is nothing to run (-help, -version, a bad flag). */
function parse(argv: readonly string[], env: NodeJS.ProcessEnv): PluginConfig | number {
  try {
    const outcome = parseConfig(argv, env);
    if (outcome.kind === 'help') {
      process.stdout.write(outcome.text + TOOLS_HELP);
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

function domainSettings(config: PluginConfig): DomainSettings {
  return {
    renewal: { incrementSeconds: config.tokenRenewalSeconds, checkIntervalSeconds: config.tokenRefreshIntervalMs / 1000 },
    // Three missed checks in a row before a stale success stops counting.
    healthMaxAgeMs: 3 * config.healthCheckIntervalMs + 5000,
    reloginMinIntervalMs: 2000,
    // Login, lookup, renewal: retried within this budget (until its deadline), then again by the renewal loop.
    backgroundTimeoutMs: 5000,
    healthCheckTimeoutMs: 5000,
    addressCheckTimeoutMs: 1000,
    recheckMinIntervalMs: 1000,
    // Four parallel Vault requests keep latency flat at low load; beyond that, batches of up to 128. Four, not
    // eight: a storm of 200 calls then goes out as batches of 25-50 instead of about 15 (half the requests).
    coalescing: { maxInFlight: 4, maxBatch: 128 },
  };
}

/**
 * Chooses the implementation behind every port and registers it in one
 * container; this is the only place that does. A Decrypt travels 8 files
 * (docs/architecture.md has each step):
 *   socket -> grpc/grpc-server.ts (admission) -> grpc/kms-messages.ts (decode) -> grpc/kms-handlers.ts (unary: deadline signal)
 *   -> TOKENS.KmsService = services/envelope-service.ts (validate, relogin once)
 *   -> services/coalescing-transit.ts (SingleFlight for identical Decrypts; TOKENS.Transit = CoalescingTransit, the batching lane)
 *   -> TOKENS.TransitBackend = vault/vault-transit.adapter.ts -> vault/vault-http-client.ts -> Vault,
 *   and back through vault/vault-errors.ts (answers and failures become one KmsError) the same way.
 */
function compose(config: PluginConfig, exposure: ProcessExposure & { readonly secretFlags: readonly string[] }): Plugin {
  const redactor = new SecretRedactor();
  if (config.auth.method === 'token') redactor.pin(config.auth.token);
  if (config.auth.method === 'approle') redactor.pin(config.auth.secretId);
  if (config.auth.method === 'userpass') redactor.pin(config.auth.password);
  const registerSecret: SecretSink = (s, origin) => redactor.register(s, origin);
  const log = new WinstonLogger(redactor, config.debug);
  logStartup(config, log, exposure);
  const metrics = new PrometheusMetrics();

  const c: DependencyContainer = rootContainer.createChildContainer();
  const once = <T>(make: (r: DependencyContainer) => T) => ({ useFactory: instanceCachingFactory<T>(make) });
  c.register(TOKENS.Clock, { useValue: SYSTEM_CLOCK });
  c.register(TOKENS.Logger, { useValue: log });
  c.register(TOKENS.Metrics, { useValue: metrics });
  c.register(TOKENS.DomainSettings, { useValue: domainSettings(config) });

  const auth = config.auth;
  const recheck = { now: () => {} };
  let monitor: HealthMonitor | undefined;
  let addressInUse: string | undefined = config.vault.address;
  if (auth.method === 'dev') {
    c.registerSingleton(DevTransitAdapter);
    c.register(TOKENS.TransitBackend, { useToken: DevTransitAdapter });
  } else {
    c.register(VaultHttpClient, once(() => new VaultHttpClient(
      config.vault,
      SYSTEM_CLOCK,
      registerSecret,
      (op, outcome, seconds, status) => {
        metrics.vaultRequest(op, outcome, seconds);
        if ((monitor ??= c.resolve(HealthMonitor)).requestOutcome(requestOutcomeOf(status))) recheck.now();
      },
      (from, to) => log.info('following Vault redirects to another origin (logged once per origin)', { from, to }),
      (states) => {
        metrics.vaultAddressInUse(states);
        const inUse = states.find((s) => s.current)?.address;
        if (inUse === addressInUse) return;
        addressInUse = inUse;
        log.info('Vault requests now go to another address', { in_use: inUse, down: states.filter((s) => !s.up).map((s) => `${s.address} (${s.reason})`) });
      },
    )));
    c.register(TOKENS.VaultAddresses, once((r) => new VaultAddressChecker(r.resolve(VaultHttpClient).endpoints)));
    c.register(TOKENS.TransitBackend, once((r) => new VaultTransitAdapter(r.resolve(VaultHttpClient), config.transitMount, config.transitKey)));
    c.register(TOKENS.TokenSession, once((r) => new VaultTokenSessionAdapter(r.resolve(VaultHttpClient))));
    c.register(TOKENS.AuthStrategy, once((r) => authStrategy(auth, r.resolve(VaultHttpClient), registerSecret, config, metrics)));
  }
  registerDomainServices(c, auth.method === 'dev' ? 'none' : 'vault-token');

  const deps = { log, metrics };
  c.register(KmsGrpcServer, once((r) => {
    const kms = r.resolve<KmsServicePort>(TOKENS.KmsService);
    return new KmsGrpcServer(
      {
        socket: config.socket,
        socketMode: config.socketMode,
        forceOverwrite: config.forceSocketOverwrite,
        v2: config.enableV2 ? kmsV2Handlers(kms, deps) : undefined,
        v1: config.enableV1 ? kmsV1Handlers(kms, deps, VERSION) : disabledV1Handlers(deps.log),
      },
      log,
    );
  }));
  c.register(HealthHttpServer, once((r) => {
    const grpc = r.resolve(KmsGrpcServer);
    const health = r.resolve(HealthMonitor);
    return new HealthHttpServer(config.health, {
      live: () => grpc.isServing(),
      health: () => health.state.snapshot(Date.now()),
      metrics: () => metrics.exposition(),
    });
  }));

  const vault = auth.method === 'dev' ? undefined : c.resolve(VaultHttpClient);
  if (vault) metrics.vaultAddressInUse(vault.endpoints.states());
  // Vault's Community Edition would serve a namespaced configuration from the root namespace: say so at once.
  if (vault && config.vault.namespace) void warnIfNamespaceIgnored(vault, config.vault.namespace, log, withTimeout(Date.now(), 5000));
  return {
    config,
    log,
    metrics,
    grpc: c.resolve(KmsGrpcServer),
    healthServer: c.resolve(HealthHttpServer),
    health: c.resolve(HealthMonitor),
    tokens: auth.method === 'dev' ? undefined : c.resolve(TokenLifecycle),
    devTransit: auth.method === 'dev' ? c.resolve(DevTransitAdapter) : undefined,
    recheck,
    close: async () => {
      await vault?.close();
    },
  };
}

/** A Vault request as the health monitor sees it: 401/403 say the credentials stopped working, not that Vault did. */
function requestOutcomeOf(status: number | undefined): VaultRequestOutcome {
  if (status === undefined || status >= 500) return 'failed';
  if (status === 401 || status === 403) return 'refused';
  return 'answered';
}

/** The adapter behind TOKENS.AuthStrategy for the configured -auth-method. */
function authStrategy(
  auth: Exclude<PluginConfig['auth'], { method: 'dev' }>,
  http: VaultHttpClient,
  registerSecret: SecretSink,
  config: PluginConfig,
  metrics: PrometheusMetrics,
): AuthStrategyPort {
  switch (auth.method) {
    case 'token':
      return new TokenAuthStrategy(auth.token, auth.tokenFile, registerSecret);
    case 'approle':
      return new AppRoleAuthStrategy(http, auth.mount, auth.roleId, auth.secretId, auth.secretIdFile, registerSecret);
    case 'userpass':
      return new UserpassAuthStrategy(http, auth.mount, auth.username, auth.password, auth.passwordFile, registerSecret);
    case 'cert':
      // The certificate goes on the login's own connection only; every other request uses the shared client.
      return new CertAuthStrategy(
        (identity) => new VaultHttpClient({ ...config.vault, clientIdentity: identity }, SYSTEM_CLOCK, registerSecret, (op, outcome, seconds) => metrics.vaultRequest(op, outcome, seconds)),
        auth.mount,
        auth.role,
        auth.files,
        registerSecret,
      );
    case 'jwt':
      return new JwtAuthStrategy(
        http,
        auth.mount,
        auth.role,
        auth.source.kind === 'file'
          ? new FileJwtSource(auth.source.path)
          : new SpiffeJwtSource({ endpoint: auth.source.endpoint, audience: auth.source.audience, spiffeId: auth.source.spiffeId }),
        registerSecret,
      );
  }
}

const TOOLS_HELP = `
Commands (each has its own -help):
  vault-kubernetes-kms check [-output text|json] [-strict] [options]
        check the configuration, Vault, the token's capabilities, the key and the socket path once, and exit
  vault-kubernetes-kms client status|encrypt|decrypt [-socket ...]
        a debug client for the plugin's socket
`;

/** -version: ours, the commit the build came from (scripts/gen-build-info.mjs), and the runtime. */
function versionText(): string {
  return `vault-kubernetes-kms v${VERSION}\ncommit: ${BUILD_COMMIT}\nnode: ${process.version}\n`;
}

const STDIO = {
  write: (text: string | Buffer) => {
    process.stdout.write(text);
  },
  writeError: (text: string) => {
    process.stderr.write(text);
  },
};

/** How long one `check` step may take, retries included. */
const CHECK_STEP_MS = 20_000;

/**
 * `check`: the configuration the plugin would run with, and the plugin's own
 * Vault client, auth strategy and transit adapter behind the doctor's port.
 */
function composeCheck(argv: string[], env: NodeJS.ProcessEnv): ComposedCheck {
  const invalid = (error: string): ComposedCheck => ({ input: { kind: 'invalid-config', error }, close: async () => {} });
  let config: PluginConfig;
  try {
    const outcome = parseConfig(argv, env);
    if (outcome.kind !== 'run') return invalid('check takes the plugin options, not -help or -version');
    checkConfiguredFiles(outcome.config);
    config = outcome.config;
  } catch (e) {
    if (e instanceof ConfigError) return invalid(e.message);
    throw e;
  }
  const auth = config.auth;
  // A doctor reports the first failure's cause at once: one retry, not the plugin's retries until the deadline.
  const settings = { ...config.vault, maxRetries: Math.min(config.vault.maxRetries, 1) };
  const addresses = config.vault.addresses ?? [config.vault.address];
  const clients: VaultHttpClient[] = [];
  let http: VaultHttpClient | undefined;
  let strategy: AuthStrategyPort | undefined;
  if (auth.method !== 'dev') {
    try {
      http = new VaultHttpClient(settings, SYSTEM_CLOCK);
      clients.push(http);
      // Each node of a multi-address -vault-address is asked on its own.
      if (addresses.length > 1) for (const address of addresses) clients.push(new VaultHttpClient({ ...settings, address, addresses: undefined }, SYSTEM_CLOCK));
    } catch (e) {
      return invalid(`cannot read the TLS files (VAULT_CAPATH, VAULT_CLIENT_CERT, VAULT_CLIENT_KEY): ${(e as NodeJS.ErrnoException).code ?? 'unreadable'}`);
    }
    try {
      // The same strategy the plugin would log in with; its metrics go nowhere.
      strategy = authStrategy(auth, http, () => {}, config, new PrometheusMetrics());
    } catch (e) {
      for (const c of clients) void c.close();
      if (e instanceof ConfigError) return invalid(e.message);
      throw e;
    }
  }
  const diagnose = (client: VaultHttpClient) => new VaultDiagnosticsAdapter(client, strategy as AuthStrategyPort, config.transitMount, config.transitKey);
  const summary = [
    `-auth-method=${auth.method}`,
    ...(config.dev ? [] : [`Vault ${addresses.join(',')}${config.vault.caCertFile ? ` (CA ${config.vault.caCertFile})` : ''}`, `key ${config.transitMount}/keys/${config.transitKey}`]),
    `socket ${config.socketUrl}`,
    [config.enableV2 ? 'KMS v2' : '', config.enableV1 ? 'KMS v1beta1' : ''].filter(Boolean).join(' + '),
  ].join(', ');
  return {
    input: {
      kind: 'config',
      summary,
      socketPath: config.socket.path,
      forceSocketOverwrite: config.forceSocketOverwrite,
      askSocketStatus: askKmsStatus,
      healthPort: config.health,
      insecure: insecureSetups(config),
      tokenFile: auth.method === 'token' ? auth.tokenFile : undefined,
      approle: auth.method === 'approle' ? { mount: auth.mount, roleId: auth.roleId } : undefined,
      vaultAddress: addresses.join(','),
      nodes: http && strategy && addresses.length > 1 ? addresses.map((address, i) => ({ address, vault: diagnose(clients[i + 1]) })) : [],
      authMethod: auth.method,
      transitMount: config.transitMount,
      transitKey: config.transitKey,
      vaultNamespace: config.vault.namespace,
      vault: http && strategy ? diagnose(http) : undefined,
      context: () => withTimeout(Date.now(), CHECK_STEP_MS),
      stepTimeoutMs: CHECK_STEP_MS,
    },
    close: async () => {
      await Promise.all(clients.map((c) => c.close()));
    },
  };
}

/** The running plugin's answer on its socket: v2 Status, or v1beta1 Version when v2 is disabled. */
async function askKmsStatus(socketPath: string): Promise<{ answered: true; text: string } | { answered: false; error: string }> {
  let error = '';
  for (const api of ['v2', 'v1'] as const) {
    const client = new KmsSocketClient(socketPath, api, 3000);
    try {
      const r = await client.status();
      const text = api === 'v2' ? `KMS v2, healthz: ${String(r.healthz)}, key_id: ${String(r.key_id)}` : `KMS ${String(r.version)}, runtime ${String(r.runtime_name)}`;
      return { answered: true, text: text.replace(/[\u0000-\u001f\u007f-\u009f]/g, '?').slice(0, 200) };
    } catch (e) {
      error ||= (e as Error).message.slice(0, 200);
    } finally {
      client.close();
    }
  }
  return { answered: false, error };
}

/** Set-ups that work but are insecure: check prints each as a warning. */
function insecureSetups(config: PluginConfig): InsecureSetup[] {
  const found: InsecureSetup[] = [];
  if (!config.dev) {
    for (const address of config.vault.addresses ?? [config.vault.address]) {
      if (!address.startsWith('http://') || isLoopback(address)) continue;
      found.push({
        id: 'plainHttp',
        detail: `${address} is plain http:// to another host: the token and every data key cross the network unencrypted`,
        fix: 'use https:// in -vault-address (VAULT_KMS_VAULT_ADDR, VAULT_ADDR), with -vault-ca-cert for the CA that issued its certificate',
      });
    }
  }
  if (config.vault.skipVerify) {
    found.push({
      id: 'skipVerify',
      detail: "VAULT_SKIP_VERIFY is set: Vault's certificate is not verified, so anyone on the path can pose as Vault and read the token and the data keys",
      fix: 'unset VAULT_SKIP_VERIFY and give the CA that issued the Vault certificate with -vault-ca-cert (VAULT_KMS_VAULT_CACERT, VAULT_CACERT)',
    });
  }
  for (const { flag, path } of secretFiles(config)) {
    const exposure = credentialFileExposure(path);
    if (!exposure) continue;
    found.push({
      id: 'credentialFile',
      detail: `the ${flag} file ${path} is ${exposure}`,
      fix: `chmod 0400 ${path}, owned by the user the plugin runs as (chown 65532:65532 ${path} with the manifests), and run check as that user`,
    });
  }
  return found;
}

function isLoopback(address: string): boolean {
  const host = new URL(address).hostname.replace(/^\[|\]$/g, '');
  return host === 'localhost' || host === '::1' || /^127\./.test(host);
}

/** The files that hold a credential (the client certificate itself is public; its key is not). */
function secretFiles(c: PluginConfig): { flag: string; path: string }[] {
  const auth = c.auth;
  if (auth.method === 'token' && auth.tokenFile) return [{ flag: '-token-file', path: auth.tokenFile }];
  if (auth.method === 'approle' && auth.secretIdFile) return [{ flag: '-approle-secret-id-file', path: auth.secretIdFile }];
  if (auth.method === 'userpass' && auth.passwordFile) return [{ flag: '-userpass-password-file', path: auth.passwordFile }];
  if (auth.method === 'cert') return [auth.files.kind === 'combined' ? { flag: '-cert-pem', path: auth.files.pemFile } : { flag: '-cert-key', path: auth.files.keyFile }];
  if (auth.method === 'jwt' && auth.source.kind === 'file') return [{ flag: '-jwt-token-path', path: auth.source.path }];
  return [];
}

/** `client`: the gRPC adapter's socket client, with the plugin's own socket URL and duration syntax. */
function clientDeps(env: NodeJS.ProcessEnv) {
  return {
    ...STDIO,
    parseSocket: (url: string) => parseSocketUrl(url)?.path,
    parseDuration: parseDurationMs,
    open: (socketPath: string, api: 'v2' | 'v1', timeoutMs: number) => new KmsSocketClient(socketPath, api, timeoutMs),
    defaultSocket: env.VAULT_KMS_SOCKET || (OPTION_BY_FLAG.get('socket')?.default as string),
    readStdin: async () => {
      const chunks: Buffer[] = [];
      for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
      return Buffer.concat(chunks);
    },
  };
}

function logStartup(config: PluginConfig, log: WinstonLogger, exposure: ProcessExposure & { readonly secretFlags: readonly string[] }): void {
  log.info('starting kms plugin', startupFields(config, VERSION));
  for (const flag of exposure.secretFlags) {
    log.warn(`-${flag} was given on the command line: other users on this node could read it in /proc/<pid>/cmdline until start-up hid it, and the manifest shows it; use -${flag}-file (a 0400 file) instead`, { flag: `-${flag}`, instead: `-${flag}-file` });
  }
  if (exposure.coreDumpFilterError) {
    log.warn('cannot keep memory out of core dumps (/proc/self/coredump_filter); a core dump would hold the Vault token: set the core size limit to 0 for this container (docs/security.md)', { error: exposure.coreDumpFilterError });
  }
  if (config.dev) {
    log.warn('DEV MODE: in-process transit backend with an ephemeral key. NOT FOR PRODUCTION: everything encrypted is lost when the process exits.');
  } else {
    for (const address of config.vault.addresses ?? [config.vault.address]) {
      if (address.startsWith('http://')) log.warn('Vault address uses plain http://: tokens and data keys cross the network unencrypted', { vault_address: address });
    }
  }
  if (config.vault.skipVerify) log.warn('VAULT_SKIP_VERIFY is set: the Vault server certificate is not verified');
  for (const { flag, path } of secretFiles(config)) {
    const exposure = credentialFileExposure(path);
    if (exposure) log.warn('credential file is exposed: make it mode 0400, owned by the user the plugin runs as', { flag, file: path, problem: exposure });
  }
  for (const notice of config.notices) log.info(notice);
}

interface BackgroundTasks {
  readonly health: PeriodicTask;
  readonly addresses: PeriodicTask;
  readonly tokens: PeriodicTask | undefined;
}

/**
 * The cheap address check of an idle plugin runs this often: the readiness probe's periodSeconds in our manifests,
 * so that a Vault gone away while nothing asks is seen by the next probe or the one after.
 */
const QUICK_CHECK_INTERVAL_MS = 5000;

/**
 * Starts the background checks and serves the socket and the health endpoints. The first
 * Vault check (login, then the health check) runs while the socket binds, so the first
 * Status can say ok sooner. Undefined when serving failed (the checks are stopped again).
 */
async function start(plugin: Plugin): Promise<BackgroundTasks | undefined> {
  const { config, log } = plugin;
  const tasks = startBackgroundTasks(plugin);
  // Not awaited: a check under way could take its whole timeout, and the process exits next anyway.
  const giveUp = async () => {
    void tasks.tokens?.stop();
    void tasks.health.stop();
    void tasks.addresses.stop();
    plugin.close().catch(() => {});
    await log.flush();
    return undefined;
  };
  try {
    await plugin.grpc.start();
  } catch (e) {
    log.error('cannot serve on the socket', { socket: config.socketUrl, error: (e as Error).message });
    return giveUp();
  }
  log.info('listening for kube-apiserver', { socket: config.socketUrl, kms_v2: config.enableV2, kms_v1: config.enableV1 });
  serveHealthEndpoints(plugin);
  return tasks;
}

/** How often a health port still held by another process is logged again (every attempt is counted in the metrics). */
const HEALTH_PORT_NAG_INTERVAL_MS = 60_000;

/**
 * Binds the health port without ever stopping the socket: while another process holds the port, the probes and
 * scrapes that reach it are answered by that process, so it is logged as an error at once and again every minute.
 */
function serveHealthEndpoints(plugin: Plugin): void {
  const { config, log, metrics } = plugin;
  const where = `${config.health.host || '*'}:${config.health.port}`;
  let firstFailureAt = 0;
  let lastNagAt = Number.NEGATIVE_INFINITY;
  plugin.healthServer.startRetrying({
    failed: (e, attempt, nextRetryMs) => {
      metrics.healthPortBind(false);
      const now = Date.now();
      if (attempt === 1) firstFailureAt = now;
      if (now - lastNagAt < HEALTH_PORT_NAG_INTERVAL_MS) return;
      lastNagAt = now;
      const held = e.code === 'EADDRINUSE';
      log.error(
        held
          ? 'the health port is held by another process: /live, /health and /metrics there are NOT this plugin\'s answers (probes may be forged); the KMS socket keeps serving, retrying the port'
          : 'cannot serve the health endpoints; the KMS socket keeps serving, retrying the port',
        { health_port: where, error: e.code ?? e.message, attempts: attempt, failing_for_s: Math.round((now - firstFailureAt) / 1000), next_retry_ms: nextRetryMs },
      );
    },
    bound: (addr, failedAttempts) => {
      metrics.healthPortBind(true);
      const fields = { address: addr.address, port: addr.port };
      if (failedAttempts === 0) log.info('health endpoints listening', fields);
      else log.warn('health endpoints listening', { ...fields, failed_attempts: failedAttempts, unavailable_for_s: Math.round((Date.now() - firstFailureAt) / 1000) });
    },
  });
}

function startBackgroundTasks(plugin: Plugin): BackgroundTasks {
  const { config, log, tokens } = plugin;
  // While failing, checked again within 2 s at most: health follows Vault's recovery within seconds.
  const health = new PeriodicTask(() => plugin.health.check((n) => randomBytes(n)), config.healthCheckIntervalMs, 500, 2000);
  plugin.recheck.now = () => health.poke();
  const tokenTask = tokens
    ? new PeriodicTask(async () => {
        const wasLoggedIn = tokens.isLoggedIn();
        try {
          await tokens.tick();
        } catch (e) {
          log.warn('Vault token check failed; retrying with backoff', { error: (e as Error).message });
          // A failed first login is a verdict too: Status must say so now, not after an interval.
          if (!wasLoggedIn) health.poke();
          return false;
        }
        // The first login makes the first health check worth running now.
        if (!wasLoggedIn) health.poke();
        return true;
      }, config.tokenRefreshIntervalMs, 500)
    : undefined;
  tokenTask?.start();
  // At once also with a token to get: the addresses' check can tell "Vault unreachable" before the first login ends.
  health.start(true);
  // Between two full checks; never more often than them. A failed quick check is no reason to back off: it always succeeds as a task.
  const quickMs = Math.min(QUICK_CHECK_INTERVAL_MS, config.healthCheckIntervalMs);
  const addresses = new PeriodicTask(async () => {
    if (await plugin.health.quickCheck()) health.poke();
    return true;
  }, quickMs, quickMs);
  addresses.start(false);

  const dev = plugin.devTransit;
  const file = credentialFile(config);
  processSignals.handleControl((sig: ControlSignal) => {
    if (sig === 'SIGUSR2' && dev) {
      log.info('dev transit key rotated', { key_version: dev.rotate() });
      health.poke();
    } else if (sig === 'SIGHUP' && tokens && file) {
      log.info('SIGHUP: reading the credential file again and logging in', { file });
      tokens.login().then(
        () => health.poke(),
        (e) => log.warn('login after SIGHUP failed; the previous token stays in use', { error: (e as Error).message }),
      );
    } else {
      log.info(`${sig} ignored`, { signal: sig, reason: ignoredBecause(sig) });
    }
  });
  return { health, addresses, tokens: tokenTask };
}

function credentialFile(c: PluginConfig): string | undefined {
  if (c.auth.method === 'token') return c.auth.tokenFile;
  if (c.auth.method === 'approle') return c.auth.secretIdFile;
  if (c.auth.method === 'userpass') return c.auth.passwordFile;
  if (c.auth.method === 'cert') return c.auth.files.kind === 'combined' ? c.auth.files.pemFile : c.auth.files.certFile;
  if (c.auth.method === 'jwt' && c.auth.source.kind === 'file') return c.auth.source.path;
  return undefined;
}

function ignoredBecause(sig: ControlSignal): string {
  if (sig === 'SIGUSR1') return 'the Node.js inspector is never opened';
  if (sig === 'SIGUSR2') return 'only -dev rotates its key on SIGUSR2';
  return 'no credential file is configured (-token-file, -approle-secret-id-file, -userpass-password-file, -cert-pem, -cert-file, -jwt-token-path)';
}

/** Stops the checks, lets in-flight calls finish, removes the socket. */
async function shutDown(plugin: Plugin, tasks: BackgroundTasks, signal: NodeJS.Signals): Promise<void> {
  const { log } = plugin;
  log.info('shutting down', { signal });
  await Promise.all([tasks.tokens?.stop(), tasks.health.stop(), tasks.addresses.stop()]);
  await plugin.grpc.stop(SHUTDOWN_GRACE_MS);
  await plugin.healthServer.stop();
  await plugin.close();
  log.info('stopped');
  await log.flush();
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
  main(process.argv.slice(2), process.env, earlyExposure).then(
    (code) => process.exit(code),
    (e) => {
      process.stderr.write(`vault-kubernetes-kms: fatal: ${(e as Error)?.message ?? 'unknown error'}\n`);
      process.exit(1);
    },
  );
}
