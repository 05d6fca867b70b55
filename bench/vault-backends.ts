import { existsSync, openSync, readSync, closeSync, statSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { Child, REPO_ROOT, startProxiedOpenBao, tempDir, removeTempDir } from './processes';

/**
 * The Vault servers the targets run against, each started fresh per run:
 * a real OpenBao or HashiCorp Vault dev server (requests counted from a file
 * audit device), and OpenBao behind the fault proxy of test/support/fault-proxy.ts
 * adding a latency (requests counted by the proxy's /_test/stats).
 */
export interface VaultBackend {
  /** Stable key used in result files: "openbao", "vault", "openbao-0ms", "openbao-2ms". */
  readonly key: string;
  readonly label: string;
  readonly url: string;
  /** Token the plugins log in with (transit encrypt/decrypt, key read, lookup-self). */
  readonly kmsToken: string;
  /** Token with every right: for the floor, which talks to Vault directly. */
  readonly rootToken: string;
  readonly pid: number;
  /** Every Vault API request seen so far. */
  requests(): Promise<number>;
  stop(): Promise<void>;
}

/** The real servers `npm run tools` installs (versions pinned in scripts/install-test-tools.sh). */
const REAL_SERVERS = {
  openbao: { name: 'OpenBao', bin: process.env.KMS_TEST_BAO ?? join(REPO_ROOT, '.tools/bin/bao'), env: 'KMS_TEST_BAO', label: 'OpenBao 2.7.2 dev server (file audit device)' },
  vault: { name: 'Vault', bin: process.env.KMS_TEST_VAULT ?? join(REPO_ROOT, '.tools/bin/vault'), env: 'KMS_TEST_VAULT', label: 'Vault 1.21.4 (Community Edition) dev server (file audit device)' },
} as const;
export type RealServerKind = keyof typeof REAL_SERVERS;

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

async function vaultCall(url: string, token: string, method: string, path: string, body?: unknown): Promise<Record<string, unknown>> {
  const res = await fetch(`${url}/v1/${path}`, {
    method,
    headers: { 'x-vault-token': token, 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  if (res.status >= 300) throw new Error(`${method} ${path}: HTTP ${res.status} ${text.slice(0, 300)}`);
  return text ? (JSON.parse(text) as Record<string, unknown>) : {};
}

/** Counts `"type":"request"` entries appended to an audit log since the last call (reads only the new bytes). */
class AuditCounter {
  private offset = 0;
  private total = 0;
  private carry = '';
  constructor(private readonly path: string) {}

  count(): number {
    if (!existsSync(this.path)) return this.total;
    const size = statSync(this.path).size;
    if (size <= this.offset) return this.total;
    const fd = openSync(this.path, 'r');
    try {
      const chunk = Buffer.allocUnsafe(4 << 20);
      while (this.offset < size) {
        const n = readSync(fd, chunk, 0, Math.min(chunk.length, size - this.offset), this.offset);
        if (n <= 0) break;
        this.offset += n;
        const lines = (this.carry + chunk.toString('utf8', 0, n)).split('\n');
        this.carry = lines.pop() ?? '';
        for (const l of lines) if (l.includes('"type":"request"')) this.total++;
      }
    } finally {
      closeSync(fd);
    }
    return this.total;
  }
}

export function startOpenBao(): Promise<VaultBackend> {
  return startRealServer('openbao');
}

/**
 * A dev server of either kind; both take the same command line. OpenBao
 * declares its audit device in a config file (its API refuses to enable one by
 * default); Vault has no such stanza and enables it through sys/audit.
 */
export async function startRealServer(kind: RealServerKind): Promise<VaultBackend> {
  const server = REAL_SERVERS[kind];
  if (!existsSync(server.bin)) throw new Error(`${server.bin} is missing: run npm run tools (or set ${server.env})`);
  const dir = tempDir(`kms-bench-${kind}-`);
  const audit = join(dir, 'audit.log');
  const config = join(dir, 'bench.hcl');
  if (kind === 'openbao') writeFileSync(config, `audit "file" "bench" {\n  options {\n    file_path = "${audit}"\n  }\n}\n`);
  const port = await freePort();
  const rootToken = `root-${process.pid}-${Date.now()}`;
  const url = `http://127.0.0.1:${port}`;
  const args = ['server', '-dev', `-dev-listen-address=127.0.0.1:${port}`, `-dev-root-token-id=${rootToken}`, ...(kind === 'openbao' ? [`-config=${config}`] : [])];
  const child = new Child(server.bin, args, { HOME: dir, BAO_ADDR: url, VAULT_ADDR: url });
  const stop = async () => {
    await child.stop();
    removeTempDir(dir);
  };
  try {
    const until = Date.now() + 30_000;
    for (;;) {
      try {
        const r = await fetch(`${url}/v1/sys/health`);
        if (r.status === 200) break;
      } catch {
        /* not listening yet */
      }
      if (!child.running) throw new Error(`${server.name} exited:\n${child.output()}`);
      if (Date.now() > until) throw new Error(`${server.name} not healthy within 30 s:\n${child.output()}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    if (kind === 'vault') await vaultCall(url, rootToken, 'PUT', 'sys/audit/bench', { type: 'file', options: { file_path: audit } });
    await vaultCall(url, rootToken, 'POST', 'sys/mounts/transit', { type: 'transit' });
    await vaultCall(url, rootToken, 'POST', 'transit/keys/kms', { type: 'aes256-gcm96' });
    const policy = [
      'path "transit/encrypt/kms" { capabilities = ["update"] }',
      'path "transit/decrypt/kms" { capabilities = ["update"] }',
      'path "transit/keys/kms" { capabilities = ["read"] }',
      'path "auth/token/lookup-self" { capabilities = ["read"] }',
      'path "auth/token/renew-self" { capabilities = ["update"] }',
    ].join('\n');
    await vaultCall(url, rootToken, 'POST', 'sys/policies/acl/kms', { policy });
    const created = await vaultCall(url, rootToken, 'POST', 'auth/token/create', { policies: ['kms'], ttl: '24h', renewable: true });
    const kmsToken = (created.auth as { client_token: string }).client_token;
    const counter = new AuditCounter(audit);
    return {
      key: kind,
      label: server.label,
      url,
      kmsToken,
      rootToken,
      pid: child.pid,
      requests: async () => counter.count(),
      stop,
    };
  } catch (e) {
    await stop();
    throw e;
  }
}

export async function startProxiedBackend(latencyMs: number): Promise<VaultBackend> {
  const { child, info } = await startProxiedOpenBao(latencyMs);
  return {
    key: `openbao-${latencyMs}ms`,
    label: `OpenBao behind a proxy adding ${latencyMs} ms latency`,
    url: info.url,
    kmsToken: info.kmsToken,
    rootToken: info.rootToken,
    pid: child.pid,
    requests: async () => {
      const res = await fetch(`${info.url}/_test/stats`);
      const stats = (await res.json()) as Record<string, number>;
      return stats.total ?? 0;
    },
    stop: () => child.stop(),
  };
}

export function startBackend(key: string): Promise<VaultBackend> {
  if (key === 'openbao' || key === 'vault') return startRealServer(key);
  const m = /^openbao-(\d+)ms$/.exec(key);
  if (m) return startProxiedBackend(Number(m[1]));
  throw new Error(`unknown Vault backend ${key} (openbao, vault, openbao-0ms, openbao-2ms, ...)`);
}
