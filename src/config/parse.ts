import { accessSync, constants as fsConstants, statSync } from 'node:fs';
import { resolve } from 'node:path';
import { z } from 'zod';
import type { VaultClientSettings } from '../adapters/vault/vault-settings';
import { ConfigError, type AuthSettings, type PluginConfig } from './config';
import { parsePluginFlags } from './command-line';
import { OPTIONS, describeOption, type OptionSpec } from './options';
import { certSettings, jwtSettings, userpassSettings, type OptionReader } from './auth-method-settings';
import { malformedNoProxyEntry, parseDurationMs, parseFileMode, parseGoBool, parseInteger, parseListenAddress, parseSocketUrl } from './values';

export type ParseOutcome =
  | { readonly kind: 'run'; readonly config: PluginConfig }
  | { readonly kind: 'help'; readonly text: string }
  | { readonly kind: 'version' };

type Env = Readonly<Record<string, string | undefined>>;

const DEV_SOCKET = 'unix://.dev/vaultkms.socket';

/** Flags beat env vars; env vars beat defaults. Throws ConfigError naming the option. */
export function parseConfig(argv: readonly string[], env: Env): ParseOutcome {
  const parsed = parsePluginFlags(argv);
  if (parsed.help === true) return { kind: 'help', text: helpText() };
  if (parsed.version !== undefined && parseGoBool(String(parsed.version)) === true) return { kind: 'version' };

  const raw = new Map<string, { value: string; source: string }>();
  for (const spec of OPTIONS) {
    const fromFlag = parsed[spec.flag];
    if (typeof fromFlag === 'string') raw.set(spec.flag, { value: fromFlag, source: `-${spec.flag}` });
    else {
      const envName = spec.envs.find((n) => env[n] !== undefined && env[n] !== '');
      if (envName) raw.set(spec.flag, { value: env[envName] as string, source: envName });
    }
  }
  return { kind: 'run', config: buildConfig(raw, env) };
}

function helpText(): string {
  const lines = ['Usage: vault-kubernetes-kms [options]', '', 'Every option is -name=value (Go flag syntax; --name=value also works).'];
  let group = '';
  for (const spec of OPTIONS) {
    if (spec.group !== group) {
      group = spec.group;
      lines.push('', `${group}:`);
    }
    const def = spec.default !== undefined ? ` (default "${spec.default}")` : '';
    lines.push(`  -${spec.flag}${spec.type === 'boolean' ? '' : ' ' + spec.type}${def}`);
    lines.push(`        ${spec.description}`);
    if (spec.envs.length > 0) lines.push(`        env: ${spec.envs.join(', ')}`);
  }
  lines.push('', '  -version', '        print the version and exit', '  -help', '        print this help and exit', '');
  return lines.join('\n');
}

function buildConfig(raw: Map<string, { value: string; source: string }>, env: Env): PluginConfig {
  const spec = (flag: string) => OPTIONS.find((o) => o.flag === flag) as OptionSpec;
  const fail = (flag: string, why: string): never => {
    throw new ConfigError(`invalid ${describeOption(flag)}: ${why}`);
  };
  const str = (flag: string): string | undefined => {
    const v = raw.get(flag)?.value ?? spec(flag).default;
    return v === undefined || v.trim() === '' ? undefined : v.trim();
  };
  /** The value as given (possibly empty), else the default: for options that must be valid when set. */
  const text = (flag: string): string => (raw.get(flag)?.value ?? spec(flag).default ?? '').trim();
  const bool = (flag: string): boolean => {
    const v = text(flag) || 'false';
    return parseGoBool(v) ?? fail(flag, `"${v}" is not a boolean (use true or false)`);
  };
  const duration = (flag: string): number => {
    const v = text(flag);
    const ms = parseDurationMs(v);
    if (ms === undefined) return fail(flag, `"${v}" is not a duration (examples: 60s, 5m, 1h30m)`);
    if (ms < 1000) return fail(flag, `must be at least 1s, got "${v}"`);
    return ms;
  };

  const dev = bool('dev');
  const enableV1 = !bool('disable-v1');
  const enableV2 = !bool('disable-v2');
  if (!enableV1 && !enableV2) fail('disable-v2', 'at least one KMS API version must be enabled (both -disable-v1 and -disable-v2 are set)');

  const socketUrl = raw.has('socket') ? (str('socket') ?? '') : dev ? DEV_SOCKET : (spec('socket').default as string);
  if (/^unix:\/\/\/?@/i.test(socketUrl.trim())) {
    fail('socket', 'abstract sockets (unix://@name) are not supported: they have no file permissions, so any process in the network namespace could connect');
  }
  const socket = parseSocketUrl(socketUrl) ?? fail('socket', `"${socketUrl}" is not a unix socket URL such as unix:///opt/kms/vaultkms.socket`);
  const healthText = text('health-port');
  const health = parseListenAddress(healthText) ?? fail('health-port', `"${healthText}" is not a port or host:port`);
  const socketMode = parseFileMode(text('socket-mode')) ?? fail('socket-mode', 'must be an octal mode such as 0600 or 0660');
  // Connecting needs write permission: "other" write would let every local user use the Transit key.
  if (socketMode & 0o002) fail('socket-mode', `0${socketMode.toString(8)} lets every local user connect; use 0600, or 0660 with a group`);
  const renewalText = text('token-renewal');
  const tokenRenewalSeconds = parseInteger(renewalText) ?? fail('token-renewal', `"${renewalText}" is not a whole number of seconds`);
  if (tokenRenewalSeconds <= 0) fail('token-renewal', 'must be a positive number of seconds');

  const transitMount = z.string().regex(/^[\w\-./]+$/).safeParse(str('transit-mount') ?? '');
  if (!transitMount.success) fail('transit-mount', 'must be a mount path such as transit');
  const transitKey = z.string().regex(/^\w([\w\-.]*\w)?$/).safeParse(str('transit-key') ?? '');
  if (!transitKey.success) fail('transit-key', 'must be a Transit key name (letters, digits, _ - .)');

  const source = (flag: string): string | undefined => raw.get(flag)?.source;
  const notices: string[] = [];
  const vault = dev ? devVaultSettings() : vaultSettings(str, fail, env);
  const auth: AuthSettings = dev ? { method: 'dev' } : authSettings(str, fail, source, notices);

  return {
    dev,
    vault,
    transitMount: (transitMount.data as string).replace(/^\/+|\/+$/g, ''),
    transitKey: transitKey.data as string,
    auth,
    tokenRefreshIntervalMs: duration('token-refresh-interval'),
    tokenRenewalSeconds,
    // Logged and shown as an absolute URL: the relative form reads like the classic unix://opt/... mistake.
    socketUrl: socket.abstract ? socketUrl : `unix://${resolve(socket.path)}`,
    socket,
    socketMode,
    forceSocketOverwrite: bool('force-socket-overwrite'),
    debug: bool('debug'),
    health: dev && !raw.has('health-port') ? { host: '127.0.0.1', port: health.port } : health,
    healthCheckIntervalMs: duration('health-check-interval'),
    enableV1,
    enableV2,
    notices,
  };
}

type Getter = (flag: string) => string | undefined;
type Fail = (flag: string, why: string) => never;
/** Where a value came from: "-flag" or the env var's name. */
type Source = (flag: string) => string | undefined;

/** Vault's own client variables: read as fallbacks, so one left in a shell must not override a file the operator named. */
const VAULT_CLIENT_FALLBACKS = new Set(['VAULT_TOKEN']);

/**
 * Two sources for one credential are never resolved silently: two the operator
 * set for this plugin are a configuration error naming both; Vault's own
 * fallback variable beside a file is dropped with a notice saying so.
 */
function oneCredential(value: string | undefined, fileValue: string | undefined, flag: string, fileFlag: string, source: Source, fail: Fail, notices: string[]): string | undefined {
  if (!value || !fileValue) return value;
  const from = source(flag) ?? `-${flag}`;
  if (VAULT_CLIENT_FALLBACKS.has(from)) {
    const fileFrom = source(fileFlag) ?? `-${fileFlag}`;
    notices.push(`${from} is set but ${fileFrom === `-${fileFlag}` ? fileFrom : `-${fileFlag} (${fileFrom})`} is used; ${from} is ignored`);
    return undefined;
  }
  return fail(fileFlag, `conflicts with -${flag} (set by ${from}): give one of them, not both`);
}

function authSettings(str: Getter, fail: Fail, source: Source, notices: string[]): AuthSettings {
  const method = (str('auth-method') ?? '').toLowerCase();
  if (method === '') return fail('auth-method', 'is required: token, approle, userpass, cert or jwt');
  if (method === 'token') {
    const tokenFile = str('token-file');
    const token = oneCredential(str('token'), tokenFile, 'token', 'token-file', source, fail, notices);
    if (!token && !tokenFile) return fail('token', 'is required with -auth-method=token (or give -token-file)');
    if (token && /[^\x21-\x7e]/.test(token)) return fail('token', 'contains whitespace or non-printable characters');
    return { method: 'token', token, tokenFile };
  }
  if (method === 'approle') {
    const roleId = str('approle-role-id');
    if (!roleId) return fail('approle-role-id', 'is required with -auth-method=approle');
    const secretIdFile = str('approle-secret-id-file');
    const secretId = oneCredential(str('approle-secret-id'), secretIdFile, 'approle-secret-id', 'approle-secret-id-file', source, fail, notices);
    if (!secretId && !secretIdFile) return fail('approle-secret-id', 'is required with -auth-method=approle (or give -approle-secret-id-file)');
    const mount = str('approle-mount') ?? 'approle';
    return { method: 'approle', mount: mount.replace(/^\/+|\/+$/g, ''), roleId, secretId, secretIdFile };
  }
  const reader: OptionReader = {
    str, fail, source, notices,
    oneCredential: (value, fileValue, flag, fileFlag) => oneCredential(value, fileValue, flag, fileFlag, source, fail, notices),
  };
  if (method === 'userpass') return userpassSettings(reader);
  if (method === 'cert') return certSettings(reader);
  if (method === 'jwt') return jwtSettings(reader);
  return fail('auth-method', `"${method}" is not supported: use token, approle, userpass, cert or jwt`);
}

function vaultSettings(str: Getter, fail: Fail, env: Env): VaultClientSettings {
  const addressList = str('vault-address');
  if (!addressList) return fail('vault-address', 'is required: the Vault API address, e.g. https://vault.example.com:8200');
  // A comma-separated list names the nodes of one cluster (see docs/ha.md); one address works as before.
  const addresses = addressList.split(',').map((a) => a.trim().replace(/\/+$/, ''));
  for (const address of addresses) {
    if (address === '') return fail('vault-address', `"${withoutUserInfo(addressList)}" has an empty entry; give addresses separated by single commas`);
    const url = z.string().url().safeParse(address);
    const scheme = url.success ? new URL(address).protocol : '';
    if (!url.success || !['http:', 'https:', 'unix:'].includes(scheme)) {
      return fail('vault-address', `"${withoutUserInfo(address)}" is not an http://, https:// or unix:// URL`);
    }
    // Vault never uses URL credentials; refusing them keeps a password out of every log line and error.
    const parsedUrl = new URL(address);
    if (parsedUrl.username !== '' || parsedUrl.password !== '') {
      return fail('vault-address', `"${withoutUserInfo(address)}" carries user-info (user:password@); Vault does not use it, remove it`);
    }
  }
  if (new Set(addresses).size !== addresses.length) return fail('vault-address', `"${withoutUserInfo(addressList)}" lists an address twice`);
  const redirectOrigins = (str('vault-redirect-origins') ?? '').split(',').map((o) => o.trim()).filter((o) => o !== '');
  for (const o of redirectOrigins) {
    const u = z.string().url().safeParse(o);
    if (!u.success || !['http:', 'https:'].includes(new URL(o).protocol) || new URL(o).origin !== o.replace(/\/+$/, '')) {
      return fail('vault-redirect-origins', `"${withoutUserInfo(o)}" is not an origin such as https://vault-1.example.com:8200`);
    }
  }
  const envText = (name: string) => (env[name] === undefined || env[name] === '' ? undefined : (env[name] as string));
  const envFail = (name: string, why: string): never => {
    throw new ConfigError(`invalid ${name}: ${why}`);
  };
  const skip = envText('VAULT_SKIP_VERIFY');
  const timeoutText = envText('VAULT_CLIENT_TIMEOUT');
  const retriesText = envText('VAULT_MAX_RETRIES');
  const timeoutMs = timeoutText === undefined ? 60_000 : parseDurationMs(timeoutText);
  if (timeoutMs === undefined || timeoutMs <= 0) return envFail('VAULT_CLIENT_TIMEOUT', 'must be a positive duration (30 or 30s)');
  // Unset: retry until the caller's deadline (docs/ha.md); set: also at most this many retries.
  const maxRetries = retriesText === undefined ? Number.POSITIVE_INFINITY : parseInteger(retriesText);
  if (maxRetries === undefined || maxRetries < 0) return envFail('VAULT_MAX_RETRIES', 'must be a whole number >= 0');
  const clientCertFile = envText('VAULT_CLIENT_CERT');
  const clientKeyFile = envText('VAULT_CLIENT_KEY');
  if (Boolean(clientCertFile) !== Boolean(clientKeyFile)) {
    return envFail('VAULT_CLIENT_CERT/VAULT_CLIENT_KEY', 'both client cert and client key must be provided');
  }
  const caCertFile = str('vault-ca-cert');
  return {
    address: addresses[0],
    ...(addresses.length > 1 ? { addresses } : {}),
    namespace: str('vault-namespace'),
    caCertFile,
    caPath: envText('VAULT_CAPATH'),
    clientCertFile,
    clientKeyFile,
    skipVerify: skip === undefined ? false : (parseGoBool(skip) ?? envFail('VAULT_SKIP_VERIFY', `"${skip}" is not a boolean`)),
    tlsServerName: envText('VAULT_TLS_SERVER_NAME'),
    timeoutMs,
    maxRetries,
    proxy: proxySettings(envText, envFail),
    redirectOrigins: redirectOrigins.map((o) => new URL(o).origin),
  };
}

/**
 * HTTP_PROXY / HTTPS_PROXY / NO_PROXY, either case, as Vault's Go client reads
 * them. With a proxy set, a NO_PROXY entry that cannot be read is a
 * configuration error naming it: skipping it would send the requests it was
 * meant to exempt, with the token, through the proxy.
 */
function proxySettings(envText: (name: string) => string | undefined, envFail: (name: string, why: string) => never): VaultClientSettings['proxy'] {
  const httpProxy = envText('HTTP_PROXY') ?? envText('http_proxy');
  const httpsProxy = envText('HTTPS_PROXY') ?? envText('https_proxy');
  const noProxyName = envText('NO_PROXY') !== undefined ? 'NO_PROXY' : 'no_proxy';
  const noProxy = envText(noProxyName);
  const bad = noProxy !== undefined && (httpProxy || httpsProxy) ? malformedNoProxyEntry(noProxy) : undefined;
  if (bad !== undefined) {
    envFail(
      noProxyName,
      `entry "${withoutUserInfo(bad).slice(0, 100)}" is neither a host name, an IP address nor a CIDR such as 10.0.0.0/8 (an IPv4 prefix is 0-32 bits, IPv6 0-128), ` +
        'nor one of them with a port; fix or remove it: a request it was meant to exempt would go through the proxy',
    );
  }
  return { httpProxy, httpsProxy, noProxy };
}

/** The address as it may be printed: "scheme://user:pass@host" loses "user:pass@", also in text that is no URL. */
export function withoutUserInfo(address: string): string {
  return address.replace(/(^|\/\/|\s)[^\s/@]*@/g, '$1');
}

function devVaultSettings(): VaultClientSettings {
  return { address: 'dev://in-process', skipVerify: false, timeoutMs: 60_000, maxRetries: 0 };
}

/**
 * The files the configuration names must be readable before anything starts:
 * a missing CA file is a configuration error naming its option (exit 2), not a
 * crash at the first TLS handshake. Kept apart from parseConfig, which reads
 * no file, so manifests can be checked on any machine.
 */
export function checkConfiguredFiles(config: PluginConfig): void {
  const caCertFile = config.vault.caCertFile;
  if (!caCertFile) return;
  let problem: string | undefined;
  try {
    if (!statSync(caCertFile).isFile()) problem = 'is not a file';
    else accessSync(caCertFile, fsConstants.R_OK);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    problem = code === 'ENOENT' ? 'no such file' : (code ?? 'unreadable');
  }
  if (problem) throw new ConfigError(`invalid ${describeOption('vault-ca-cert')}: cannot read ${caCertFile}: ${problem}`);
}
