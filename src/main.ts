#!/usr/bin/env node
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
import { NO_METRICS } from './ports/metrics.port';
import { wire } from './composition';

export const VERSION: string = pkg.version;
const SHUTDOWN_GRACE_MS = 5000;

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

  const metrics = NO_METRICS;
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

if (require.main === module) {
  main(process.argv.slice(2), process.env).then(
    (code) => process.exit(code),
    (e) => {
      process.stderr.write(`vault-kubernetes-kms: fatal: ${(e as Error)?.message ?? 'unknown error'}\n`);
      process.exit(1);
    },
  );
}
