import { ConfigError, type PluginConfig } from '../config/config';
import { vaultAddresses, secretFiles } from '../config/credential-files';
import { asksForHelp, parseCheckFlags } from '../config/command-line';
import { checkConfiguredFiles, parseConfig } from '../config/parse';
import { CHECK_USAGE, checkCommand, type ComposedCheck } from '../adapters/cli-check/check-command';
import type { InsecureSetup } from '../adapters/cli-check/doctor';
import { KmsSocketClient } from '../adapters/grpc/kms-socket-client';
import { SYSTEM_CLOCK } from '../adapters/runtime/system';
import { credentialFileExposure } from '../adapters/vault/auth/secret-file';
import { VaultDiagnosticsAdapter } from '../adapters/vault/vault-diagnostics.adapter';
import { VaultHttpClient } from '../adapters/vault/vault-http-client';
import type { AuthStrategyPort } from '../ports/auth.port';
import { withTimeout } from '../ports/call-context';
import { STDIO } from './stdio';
import { authStrategy } from './vault-login';

/** How long one `check` step may take, retries included. */
const CHECK_STEP_MS = 20_000;

/** `vault-kubernetes-kms check ...`: resolves to the exit code. */
export async function runCheck(argv: readonly string[], env: NodeJS.ProcessEnv): Promise<number> {
  if (asksForHelp(argv)) {
    STDIO.write(CHECK_USAGE);
    return 0;
  }
  let line: ReturnType<typeof parseCheckFlags>;
  try {
    line = parseCheckFlags(argv);
  } catch (e) {
    if (!(e instanceof ConfigError)) throw e;
    STDIO.writeError(`vault-kubernetes-kms check: ${e.message}\n`);
    return 2;
  }
  return checkCommand(line.options, () => composeCheck(line.pluginArgs, env), STDIO);
}

/**
 * `check`: the configuration the plugin would run with, and the plugin's own
 * Vault client, auth strategy and transit adapter behind the doctor's port.
 */
function composeCheck(argv: readonly string[], env: NodeJS.ProcessEnv): ComposedCheck {
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
      // The same strategy the plugin would log in with; its requests are counted nowhere.
      strategy = authStrategy(auth, http, config.vault, () => {}, () => {});
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
  for (const address of vaultAddresses(config)) {
    if (!address.startsWith('http://') || isLoopback(address)) continue;
    found.push({
      id: 'plainHttp',
      detail: `${address} is plain http:// to another host: the token and every data key cross the network unencrypted`,
      fix: 'use https:// in -vault-address (VAULT_KMS_VAULT_ADDR, VAULT_ADDR), with -vault-ca-cert for the CA that issued its certificate',
    });
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
