import { randomBytes } from 'node:crypto';
import { resolve } from 'node:path';
import { outsideList } from '../../domain/model/outside-text';
import type { CallContext } from '../../ports/call-context';
import { KmsError, type NetworkReason } from '../../ports/errors';
import { LoginRefusedError, type LoginInfo, type RequiredCapability, type VaultDiagnosticsPort } from '../../ports/vault-diagnostics.port';
import type { StepResult } from './check-report';
import { checkHealthPort } from './health-port-check';
import { checkSocketPath, type SocketStatusAnswer } from './socket-check';

/** An insecure set-up found in the configuration: a warning line, not a failure (see check -strict). */
export interface InsecureSetup {
  /** Stable identifier, the step key in -output json. */
  readonly id: 'plainHttp' | 'skipVerify' | 'credentialFile';
  readonly detail: string;
  readonly fix: string;
}

/** What the composition root hands the doctor: the parsed configuration (or why it is invalid) and the Vault side. */
export type DoctorInput =
  | { readonly kind: 'invalid-config'; readonly error: string }
  | {
      readonly kind: 'config';
      /** One line describing the effective configuration, without secrets. */
      readonly summary: string;
      readonly socketPath: string;
      readonly forceSocketOverwrite: boolean;
      /** Asks a listener on the socket for its KMS Status (check run beside a running plugin). */
      readonly askSocketStatus?: (path: string) => Promise<SocketStatusAnswer>;
      /** -health-port: host ('' = every interface) and port. */
      readonly healthPort: { readonly host: string; readonly port: number };
      /** Insecure set-ups the configuration shows (plain http://, no TLS verification, a credential file others may read). */
      readonly insecure: readonly InsecureSetup[];
      /** -token-file with -auth-method=token: where the fix for a dying token writes the new one. */
      readonly tokenFile?: string;
      /** -approle-mount and -approle-role-id with -auth-method=approle, for the unlock command (the role ID is no secret: the start-up line shows it too). */
      readonly approle?: { readonly mount: string; readonly roleId: string };
      /** -vault-address as given (several nodes: comma-separated). */
      readonly vaultAddress: string;
      /** With several addresses: each node on its own, for the reachability step. Empty for one address. */
      readonly nodes: readonly { readonly address: string; readonly vault: VaultDiagnosticsPort }[];
      readonly authMethod: string;
      readonly transitMount: string;
      readonly transitKey: string;
      /** -vault-namespace, if set. */
      readonly vaultNamespace?: string;
      /** Undefined with -dev: there is no Vault to check. */
      readonly vault: VaultDiagnosticsPort | undefined;
      /** A fresh context for one step, aborting after stepTimeoutMs. */
      readonly context: () => CallContext;
      readonly stepTimeoutMs: number;
    };

const TITLES = {
  config: 'configuration',
  reach: 'Vault reachable',
  namespace: 'Vault namespace',
  auth: 'authentication',
  tokenLife: 'token lifetime',
  capabilities: 'token capabilities',
  key: 'transit key',
  roundTrip: 'encrypt/decrypt round trip',
  socket: 'socket path',
  healthPort: 'health port',
} as const;
type StepId = keyof typeof TITLES;
type WarningId = InsecureSetup['id'] | 'rootToken' | 'tokenNeverExpires' | 'tokenNotRevoked';

const pass = (step: StepId, detail: string): StepResult => ({ step, title: TITLES[step], status: 'pass', detail });
const fail = (step: StepId, detail: string, fix: string): StepResult => ({ step, title: TITLES[step], status: 'fail', detail, fix });
const skip = (step: StepId, because: string): StepResult => ({ step, title: TITLES[step], status: 'skip', detail: because });
const warn = (step: WarningId | StepId, detail: string, fix: string): StepResult => ({ step, title: step in TITLES ? TITLES[step as StepId] : 'warning', status: 'warn', detail, fix });

/** Long enough for a node to be down overnight without its token expiring, as docs/setup.md recommends. */
const MIN_TOKEN_PERIOD_SECONDS = 24 * 3600;

/**
 * `vault-kubernetes-kms check`: each step the plugin depends on, in the order
 * it depends on them. A step that cannot run because an earlier one failed is
 * reported as skipped, with the reason. Nothing a step prints comes from a
 * credential: errors are the Vault adapter's, which never carry one.
 */
export async function runDoctor(input: DoctorInput): Promise<StepResult[]> {
  if (input.kind === 'invalid-config') {
    const because = 'the configuration is invalid';
    return [
      fail('config', input.error, 'correct the option named above (vault-kubernetes-kms -help lists every option and its env var)'),
      ...(['reach', 'namespace', 'auth', 'capabilities', 'key', 'roundTrip', 'socket', 'healthPort'] as const).map((s) => skip(s, because)),
    ];
  }
  const steps: StepResult[] = [pass('config', input.summary), ...input.insecure.map((w) => warn(w.id, w.detail, w.fix))];
  steps.push(...(input.vault ? await vaultSteps(input, input.vault) : devSteps()));
  const socket = await checkSocketPath(input.socketPath, input.forceSocketOverwrite, input.askSocketStatus);
  steps.push(socket.ok ? pass('socket', socket.detail) : fail('socket', socket.detail, socket.fix ?? ''));
  const health = await checkHealthPort(input.healthPort.host, input.healthPort.port, resolve(input.socketPath));
  steps.push({ step: 'healthPort', title: TITLES.healthPort, ...health });
  return steps;
}

function devSteps(): StepResult[] {
  const because = '-dev uses the in-process transit backend, not Vault';
  return (['reach', 'namespace', 'auth', 'capabilities', 'key', 'roundTrip'] as const).map((s) => skip(s, because));
}

/**
 * Each Vault step ends at its deadline even if the request under it does not:
 * on Node.js 20, an undici request carrying an AbortSignal to a listener that
 * accepts and at once closes the connection can stay pending, abort or not.
 */
function bounded(vault: VaultDiagnosticsPort, ms: number): VaultDiagnosticsPort {
  const limit = <T>(what: string, work: Promise<T>): Promise<T> => {
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new KmsError('deadline-exceeded', `no answer to ${what} within ${ms / 1000} s`, { reason: 'timeout' })), ms);
    });
    return Promise.race([work, late]).finally(() => clearTimeout(timer));
  };
  return {
    serverInfo: (ctx) => limit('sys/health', vault.serverInfo(ctx)),
    login: (ctx) => limit('the login', vault.login(ctx)),
    requiredCapabilities: () => vault.requiredCapabilities(),
    checkCapabilities: (ctx) => limit('the capability checks', vault.checkCapabilities(ctx)),
    readKey: (ctx) => limit('the key read', vault.readKey(ctx)),
    roundTrip: (plaintext, ctx) => limit('encrypt and decrypt', vault.roundTrip(plaintext, ctx)),
    revokeLoginToken: (ctx) => limit('the token revocation', vault.revokeLoginToken(ctx)),
  };
}

/** The Vault steps; the token a login created for them is revoked at the end, whatever happened. */
async function vaultSteps(input: Extract<DoctorInput, { kind: 'config' }>, unbounded: VaultDiagnosticsPort): Promise<StepResult[]> {
  const vault = bounded(unbounded, input.stepTimeoutMs);
  const out = await vaultStepsUntilDone(input, vault);
  try {
    await vault.revokeLoginToken(input.context());
  } catch (e) {
    out.push(warn('tokenNotRevoked', `the token this check logged in with could not be revoked (${messageOf(e)}): it stays valid until its TTL ends`, 'allow "update" on auth/token/revoke-self (Vault\'s default policy does), or revoke it: vault token revoke -accessor <accessor> (vault list auth/token/accessors)'));
  }
  return out;
}

async function vaultStepsUntilDone(input: Extract<DoctorInput, { kind: 'config' }>, vault: VaultDiagnosticsPort): Promise<StepResult[]> {
  const out: StepResult[] = [];
  const rest = (because: string, ...ids: StepId[]) => out.push(...ids.map((s) => skip(s, because)));

  const { step: reach, someAnswer } = input.nodes.length > 0 ? await reachEachStep(input) : oneNode(await reachStep(input, vault, input.vaultAddress));
  out.push(reach);
  // The plugin fails over between addresses: the later steps run as long as one node answers.
  if (!someAnswer) {
    rest('Vault is not reachable', 'namespace', 'auth', 'capabilities', 'key', 'roundTrip');
    return out;
  }
  // A namespace the server ignores is no reason to stop: the later steps show what the root namespace holds.
  out.push(await namespaceStep(input, vault));

  let login: LoginInfo;
  try {
    login = await vault.login(input.context());
    out.push(pass('auth', describeLogin(login.method, login.ttlSeconds, login.renewable, login.policies)));
  } catch (e) {
    out.push(fail('auth', authDetail(e, input.authMethod), authFix(input, e)));
    rest('authentication failed', ...(input.authMethod === 'token' ? (['tokenLife'] as const) : []), 'capabilities', 'key', 'roundTrip');
    return out;
  }
  if (input.authMethod === 'token') out.push(tokenLifeStep(login, input.tokenFile));
  out.push(...tokenWarnings(login));

  let missing: readonly RequiredCapability[] = [];
  try {
    const report = await vault.checkCapabilities(input.context());
    missing = report.missing;
    const how = report.via === 'capabilities-self' ? 'listed by sys/capabilities-self' : 'probed path by path: this token may not call sys/capabilities-self, which only Vault\'s default policy grants';
    const total = vault.requiredCapabilities().length;
    // Vault checks the policy before it looks for the key: a key that does not exist, or a misspelt -transit-key,
    // is denied exactly like a key the policy leaves out. When the key may be read, the key step tells instead.
    const keyDenied = missing.some((m) => m.path === `${input.transitMount}/keys/${input.transitKey}`);
    const misspelt = keyDenied
      ? `; or the key "${input.transitKey}" does not exist or is misspelt (a policy for another key denies it the same way)`
      : '';
    const rename = keyDenied ? [`or, if "${input.transitKey}" is not the key's name: set -transit-key (VAULT_KMS_TRANSIT_KEY) to the key the policy names (vault list ${input.transitMount}/keys)`] : [];
    out.push(
      missing.length === 0
        ? pass('capabilities', `all ${total} paths the plugin uses are allowed (${how})`)
        : fail(
            'capabilities',
            `${missing.map((m) => `missing "${m.capability}" on ${m.path} (to ${m.purpose})`).join('; ')} (${how})${misspelt}`,
            ["add to the token's policy:", ...missing.map((m) => `path "${m.path}" { capabilities = ["${m.capability}"] }`), ...rename].join('\n'),
          ),
    );
  } catch (e) {
    out.push(fail('capabilities', messageOf(e), 'see the error above'));
  }

  const keyPath = `${input.transitMount}/keys/${input.transitKey}`;
  const lacks = (suffix: string) => missing.find((m) => m.path === `${input.transitMount}/${suffix}/${input.transitKey}`);
  if (lacks('keys')) {
    rest(`the token may not read ${keyPath}: the policy does not allow it, or the key does not exist under that name`, 'key', 'roundTrip');
    return out;
  }
  const key = await keyStep(input, vault);
  out.push(key);
  if (key.status !== 'pass') {
    rest('the transit key is not usable', 'roundTrip');
    return out;
  }
  const denied = lacks('encrypt') ?? lacks('decrypt');
  if (denied) {
    rest(`the token may not ${denied.capability} ${denied.path}`, 'roundTrip');
    return out;
  }
  out.push(await roundTripStep(vault, input.context()));
  return out;
}

function oneNode(step: StepResult): { step: StepResult; someAnswer: boolean } {
  return { step, someAnswer: step.status === 'pass' };
}

/** Several addresses: each node is asked; the step passes only if every one answers, unsealed. */
async function reachEachStep(input: Extract<DoctorInput, { kind: 'config' }>): Promise<{ step: StepResult; someAnswer: boolean }> {
  const results = await Promise.all(input.nodes.map((n) => reachStep(input, bounded(n.vault, input.stepTimeoutMs), n.address)));
  const failed = results.filter((r) => r.status !== 'pass');
  const detail = results.map((r) => (r.status === 'pass' ? r.detail : `✗ ${r.detail}`)).join('; ');
  if (failed.length === 0) return { step: pass('reach', `all ${results.length} addresses: ${detail}`), someAnswer: true };
  const fixes = [...new Set(failed.map((r) => r.fix ?? ''))].join('\n');
  return { step: fail('reach', `${failed.length} of ${results.length} addresses fail: ${detail}`, fixes), someAnswer: failed.length < results.length };
}

async function reachStep(input: Extract<DoctorInput, { kind: 'config' }>, vault: VaultDiagnosticsPort, address: string): Promise<StepResult> {
  try {
    const info = await vault.serverInfo(input.context());
    if (!info.initialized) return fail('reach', `${address} answers (version ${info.version}) but is not initialized`, 'initialize it: vault operator init (bao operator init)');
    if (info.sealed) return fail('reach', `${address} answers (version ${info.version}) but is sealed`, 'unseal it: vault operator unseal (bao operator unseal)');
    return pass('reach', `${address} answers: version ${info.version}, unsealed, ${info.standby ? 'standby (requests are forwarded or redirected to the active node)' : 'active'}`);
  } catch (e) {
    const reason = e instanceof KmsError ? unreachableReason(e) : undefined;
    if (reason) return fail('reach', `${address}: ${REACH_PROBLEM[reason]} (${messageOf(e)})`, reachFix(reason, address));
    return fail('reach', `${address}: ${messageOf(e)}`, 'check -vault-address (VAULT_KMS_VAULT_ADDR, VAULT_ADDR)');
  }
}

/**
 * -vault-namespace against a server without namespaces: Vault's Community
 * Edition accepts X-Vault-Namespace and serves the request from the root
 * namespace, so every later step would pass while the plugin used another key
 * than the operator meant.
 */
async function namespaceStep(input: Extract<DoctorInput, { kind: 'config' }>, vault: VaultDiagnosticsPort): Promise<StepResult> {
  const namespace = input.vaultNamespace;
  if (!namespace) return pass('namespace', 'none set (-vault-namespace): the root namespace');
  let ignored: boolean;
  let version: string;
  try {
    ({ ignoresNamespaces: ignored, version } = await vault.serverInfo(input.context()));
  } catch (e) {
    return fail('namespace', `cannot tell whether the server honours namespaces: ${messageOf(e)}`, 'see the "Vault reachable" step');
  }
  if (!ignored) return pass('namespace', `"${namespace}": the server (version ${version}) has namespaces; requests carry X-Vault-Namespace: ${namespace}`);
  return fail(
    'namespace',
    `"${namespace}" is set, but the server is Vault ${version} Community Edition (sys/health: enterprise=false), which has no namespaces: it ignores X-Vault-Namespace and serves every request from the root namespace, so the plugin would use the root namespace's ${input.transitMount}/keys/${input.transitKey}`,
    'remove -vault-namespace (VAULT_KMS_VAULT_NAMESPACE, VAULT_NAMESPACE) and use a transit mount and key of the root namespace, or run a server with namespaces (Vault Enterprise, OpenBao)',
  );
}

/** Why sys/health got no usable answer: the reason the HTTP client recorded; a deadline is a timeout, any other outage unexplained. */
function unreachableReason(e: KmsError): NetworkReason | undefined {
  if (e.reason) return e.reason;
  if (e.kind === 'deadline-exceeded') return 'timeout';
  return e.kind === 'unavailable' ? 'other' : undefined;
}

const REACH_PROBLEM: Record<NetworkReason, string> = {
  dns: 'the host name does not resolve',
  refused: 'nothing accepts connections there',
  closed: 'the connection was closed without an HTTP answer',
  'tls-untrusted': "Vault's TLS certificate is not trusted",
  'tls-name': "Vault's TLS certificate does not name this host",
  'tls-protocol': 'the TLS handshake failed',
  'plain-http-to-tls': 'the server speaks TLS there, but the address says http://',
  timeout: 'no answer in time',
  other: 'the request failed',
};

function reachFix(reason: NetworkReason, address: string): string {
  const host = safeHost(address);
  switch (reason) {
    case 'dns':
      return `check the host name "${host}" in -vault-address (VAULT_KMS_VAULT_ADDR, VAULT_ADDR) and the node's DNS`;
    case 'refused':
      return `check that Vault runs and listens on ${host}, and the port in -vault-address (VAULT_KMS_VAULT_ADDR, VAULT_ADDR)`;
    case 'closed':
      return `is ${host} Vault's API address? (the cluster port, 8201 by default, closes plain connections); with a TLS listener, use https://`;
    case 'plain-http-to-tls':
      return 'use https:// in -vault-address (VAULT_KMS_VAULT_ADDR, VAULT_ADDR), with -vault-ca-cert for the CA that issued its certificate';
    case 'tls-untrusted':
      return 'give the CA that issued the Vault server certificate with -vault-ca-cert (VAULT_KMS_VAULT_CACERT, VAULT_CACERT) or VAULT_CAPATH';
    case 'tls-name':
      return `use an address whose host name the certificate names, or set VAULT_TLS_SERVER_NAME to one of its names (it does not name "${host}")`;
    case 'tls-protocol':
      return 'the listener may not speak TLS: use http:// if Vault runs with tls_disable, or the TLS port; client certificates: VAULT_CLIENT_CERT, VAULT_CLIENT_KEY';
    case 'timeout':
      return 'check firewalls and proxies on the way (HTTPS_PROXY, NO_PROXY) and VAULT_CLIENT_TIMEOUT';
    default:
      return 'check -vault-address (VAULT_KMS_VAULT_ADDR, VAULT_ADDR)';
  }
}

function describeLogin(method: string, ttl: number, renewable: boolean, policies: readonly string[]): string {
  if (ttl < 0) return `${method} login succeeded (the token may not look itself up; see the capabilities below)`;
  const life = ttl === 0 ? 'never expires' : `expires in ${formatSeconds(ttl)}${renewable ? ', renewable' : ', NOT renewable'}`;
  return `${method} login succeeded; the token ${life}; policies: ${policies.length > 0 ? outsideList(policies, 10) : '(none)'}`;
}

/** The periodic orphan token docs/setup.md creates, written where this configuration reads it. */
function periodicTokenCommand(policies: readonly string[], tokenFile: string | undefined): string {
  const named = policies.filter((p) => p !== 'default' && p !== 'root');
  const flags = (named.length > 0 ? named : ['kms']).map((p) => `-policy=${p}`).join(' ');
  const file = tokenFile ?? '/opt/kms/token';
  return (
    `vault token create -orphan ${flags} -period=24h -field=token | install -o 65532 -g 65532 -m 0400 /dev/stdin ${file}` +
    ` (bao token create on OpenBao; the plugin reads -token-file again at every login${tokenFile ? '' : ': give it -token-file=' + file})`
  );
}

/**
 * Token auth cannot get a new token: one that will die takes the plugin down
 * with it. A failure, not a warning: it breaks the cluster later for certain.
 */
function tokenLifeStep(login: LoginInfo, tokenFile: string | undefined): StepResult {
  if (login.ttlSeconds < 0) return skip('tokenLife', 'the token may not look itself up');
  if (login.ttlSeconds === 0) return pass('tokenLife', 'the token never expires (see the warning below)');
  const fix = `create a periodic orphan token: ${periodicTokenCommand(login.policies, tokenFile)}`;
  const dies = 'and token auth cannot get a new one: Encrypt, Decrypt and Status fail from then on';
  if (login.explicitMaxTtlSeconds > 0) {
    return fail('tokenLife', `the token has an explicit maximum TTL (${formatSeconds(login.explicitMaxTtlSeconds)} from its creation): no renewal passes it, ${dies}`, fix);
  }
  if (login.periodSeconds === 0) {
    return fail('tokenLife', `the token is not periodic: it dies at its maximum TTL however often it is renewed (TTL now ${formatSeconds(login.ttlSeconds)}${login.renewable ? '' : ', NOT renewable'}), ${dies}`, fix);
  }
  if (login.periodSeconds < MIN_TOKEN_PERIOD_SECONDS) {
    return fail('tokenLife', `the token's period is ${formatSeconds(login.periodSeconds)}: a plugin stopped for longer (a node down overnight) finds it expired, ${dies}`, fix);
  }
  return pass('tokenLife', `periodic (period ${formatSeconds(login.periodSeconds)}), no maximum TTL: the plugin keeps it alive by renewing it`);
}

/** What the login shows that works but should not be: warnings, not failures. */
function tokenWarnings(login: LoginInfo): StepResult[] {
  if (login.policies.includes('root')) {
    return [warn('rootToken', 'the token has the root policy: it may do anything in Vault, and it never expires', 'give the plugin a token (or role) with only the kms policy (manifests/kms-policy.hcl), and revoke the root token')];
  }
  if (login.ttlSeconds === 0) {
    return [warn('tokenNeverExpires', 'the token never expires: if it leaks, it stays valid until someone revokes it', `use a periodic token instead: ${periodicTokenCommand(login.policies, undefined)}`)];
  }
  return [];
}

function authDetail(e: unknown, method: string): string {
  if (e instanceof LoginRefusedError && e.refusal === 'wrong-credential') {
    const locked = method === 'approle' ? 'the role ID' : 'the user';
    return `${e.message}; check tried once and stops: repeated failed logins, by check or by the plugin on every node, lock ${locked} for every node (user_lockout: 5 failures lock it for 15 minutes by default)`;
  }
  return messageOf(e);
}

function authFix(input: Extract<DoctorInput, { kind: 'config' }>, e: unknown): string {
  const method = input.authMethod;
  const invalid = e instanceof KmsError && e.tokenInvalid;
  if (method === 'token') {
    return invalid
      ? `give a valid token with -token-file (VAULT_KMS_TOKEN_FILE) or -token (VAULT_KMS_VAULT_TOKEN): ${periodicTokenCommand([], input.tokenFile)}`
      : 'check -token / -token-file (VAULT_KMS_VAULT_TOKEN, VAULT_KMS_TOKEN_FILE)';
  }
  const locked = e instanceof LoginRefusedError && e.refusal === 'locked-out';
  if (method === 'approle') {
    if (locked) {
      return `wait for the lockout to end, or unlock the role ID: vault write -f sys/locked-users/$(vault read -field=accessor sys/auth/${input.approle?.mount ?? 'approle'})/unlock/${input.approle?.roleId ?? '<role ID>'} (bao on OpenBao; vault read sys/locked-users lists what is locked); then fix the secret ID of every node that still sends a wrong one`;
    }
    return `check -approle-role-id and the secret ID (-approle-secret-id-file or -approle-secret-id) and -approle-mount before running check again; issue a new secret ID with: vault write -f auth/${input.approle?.mount ?? 'approle'}/role/<role>/secret-id`;
  }
  if (method === 'userpass') return 'check -userpass-username, the password (-userpass-password-file or -userpass-password) and -userpass-mount';
  if (method === 'cert') return 'check -cert-file / -cert-key (or -cert-pem): a certificate the cert auth method trusts, -cert-role and -cert-mount; cert auth needs an https:// address';
  if (method === 'jwt') return 'check the JWT (-jwt-token-path or the SPIFFE source), -jwt-role (its bound audiences and claims) and -jwt-mount';
  return `check the settings of -auth-method=${method}`;
}

async function keyStep(input: Extract<DoctorInput, { kind: 'config' }>, vault: VaultDiagnosticsPort): Promise<StepResult> {
  const { transitMount: mount, transitKey: name } = input;
  const create = `vault write -f ${mount}/keys/${name} type=aes256-gcm96`;
  try {
    const key = await vault.readKey(input.context());
    if (!key) return fail('key', `no key "${name}" at ${mount}/keys/${name} (or no Transit engine mounted at "${mount}")`, `create it: ${create} (the mount: vault secrets enable -path=${mount} transit); or point -transit-key / -transit-mount at the existing one`);
    if (key.derived) {
      return fail('key', `key "${name}" is a derived key (derived=true): every request would need a context, which the plugin does not send`, `derivation cannot be turned off: create a key without it (${create.replace(name, `${name}-v2`)}) and set -transit-key to it`);
    }
    if (!key.supportsEncryption || !key.supportsDecryption) {
      return fail('key', `key "${name}" is of type ${key.type}, which cannot ${key.supportsEncryption ? 'decrypt' : 'encrypt'}`, `use an encryption key type (aes256-gcm96, aes128-gcm96, chacha20-poly1305): ${create.replace(name, `${name}-v2`)}, then set -transit-key to it`);
    }
    return pass('key', `${mount}/keys/${name}: type ${key.type}, latest version ${key.latestVersion} (the KMS key_id), not derived, encrypts and decrypts`);
  } catch (e) {
    return fail('key', messageOf(e), 'see the error above');
  }
}

async function roundTripStep(vault: VaultDiagnosticsPort, ctx: CallContext): Promise<StepResult> {
  const probe = randomBytes(32);
  const started = process.hrtime.bigint();
  try {
    const r = await vault.roundTrip(probe, ctx);
    const ms = Number(process.hrtime.bigint() - started) / 1e6;
    if (!r.matches) return fail('roundTrip', 'Vault decrypted the ciphertext to different bytes', 'this is a Vault or proxy fault: check what sits between the plugin and Vault');
    return pass('roundTrip', `32 random bytes encrypted with key version ${r.keyVersion} and decrypted back in ${ms.toFixed(0)} ms`);
  } catch (e) {
    return fail('roundTrip', messageOf(e), e instanceof KmsError && e.kind === 'unavailable' ? 'Vault failed the request: check its log and health' : 'see the error above');
  }
}

function messageOf(e: unknown): string {
  if (e instanceof KmsError) return e.message;
  // Anything else is unexpected: its message could carry data, so only its kind is shown.
  return `unexpected error (${(e as Error)?.name ?? 'unknown'})`;
}

function safeHost(address: string): string {
  try {
    return new URL(address).host;
  } catch {
    return '(unparsable address)';
  }
}

function formatSeconds(total: number): string {
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = total % 60;
  return [h ? `${h}h` : '', m ? `${m}m` : '', s || (!h && !m) ? `${s}s` : ''].join('');
}
