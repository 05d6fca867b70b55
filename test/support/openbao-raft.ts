import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fetch as undiciFetch } from 'undici';
import { captureSecret } from './leak-capture';
import { bodyOf, realServerBinary, type RealServerKind } from './real-server';
import { REPO_ROOT, sleep } from './plugin-process';
import { TcpForwarder } from './tcp-forwarder';

/**
 * A real 3-node Raft cluster of OpenBao or Vault on loopback: integrated storage with
 * retry_join, each node with its own API and cluster port and temporary
 * directory. One node is initialised (one unseal key, kept to unseal the
 * others and every restarted node), all are unsealed, and the cluster is ready
 * once it has three voters. Nodes can be SIGKILLed and restarted; close()
 * stops every process by its PID, also after a failure.
 */
export interface RaftClusterOptions {
  /** Default 'openbao'. */
  readonly kind?: RealServerKind;
  /**
   * OpenBao: every request on a standby is forwarded to the active node. Vault's
   * Community Edition always does so (its standbys serve nothing themselves).
   */
  readonly disableStandbyReads?: boolean;
  /** Raft timing (1 = fastest elections, about 2 s; default 5, about 12 s after a leader dies). */
  readonly performanceMultiplier?: number;
}

interface NodeSpec {
  readonly id: string;
  readonly apiPort: number;
  readonly clusterPort: number;
  readonly dir: string;
  readonly kind: RealServerKind;
}

export class RaftNode {
  private child: ChildProcess | undefined;
  private readonly output: string[] = [];

  constructor(readonly spec: NodeSpec) {}

  get url(): string {
    return `http://127.0.0.1:${this.spec.apiPort}`;
  }

  get pid(): number | undefined {
    return this.running() ? this.child?.pid : undefined;
  }

  running(): boolean {
    return this.child !== undefined && this.child.exitCode === null && this.child.signalCode === null;
  }

  start(): void {
    const child = spawn(realServerBinary(this.spec.kind), ['server', `-config=${join(this.spec.dir, 'config.hcl')}`], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { PATH: process.env.PATH, HOME: this.spec.dir },
    });
    for (const stream of [child.stdout, child.stderr]) stream?.on('data', (c: Buffer) => this.output.push(c.toString('utf8')));
    this.child = child;
  }

  /** SIGKILL (no step-down, no goodbye to the peers), then waits for the exit. */
  async kill(): Promise<void> {
    const child = this.child;
    if (!child || !this.running()) return;
    const exited = new Promise((r) => child.once('exit', r));
    process.kill(child.pid as number, 'SIGKILL');
    await exited;
  }

  async stop(): Promise<void> {
    const child = this.child;
    if (!child || !this.running()) return;
    const exited = new Promise((r) => child.once('exit', r));
    process.kill(child.pid as number, 'SIGTERM');
    const timer = setTimeout(() => child.pid && this.running() && process.kill(child.pid, 'SIGKILL'), 5000);
    await exited;
    clearTimeout(timer);
  }

  log(): string {
    return this.output.join('');
  }

  async request(method: string, path: string, body?: unknown, token?: string, timeoutMs = 2000): Promise<{ status: number; json: any }> {
    const headers: Record<string, string> = { 'content-type': 'application/json' };
    if (token) headers['x-vault-token'] = token;
    const res = await undiciFetch(`${this.url}/v1/${path}`, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(timeoutMs),
      redirect: 'manual',
    });
    return { status: res.status, json: bodyOf(await res.text()) };
  }

  /** 'active', 'standby', 'sealed', 'down', ... from sys/health (without standbyok: a standby answers 429). */
  async role(): Promise<string> {
    try {
      const res = await this.request('GET', 'sys/health', undefined, undefined, 500);
      if (res.status === 200) return 'active';
      if (res.status === 429) return 'standby';
      if (res.status === 503) return 'sealed';
      return `http-${res.status}`;
    } catch {
      return 'down';
    }
  }
}

export class RaftCluster {
  rootToken = '';
  /** Orphan token with only the `kms` policy of manifests/kms-policy.hcl. */
  kmsToken = '';
  private unsealKey = '';

  private constructor(
    readonly nodes: readonly RaftNode[],
    private readonly baseDir: string,
  ) {}

  /** Every API address, in node order (node 0 is the first leader). */
  get urls(): string[] {
    return this.nodes.map((n) => n.url);
  }

  static async start(options: RaftClusterOptions = {}): Promise<RaftCluster> {
    const baseDir = mkdtempSync(join(tmpdir(), 'kms-raft-'));
    const specs: NodeSpec[] = [];
    for (let i = 0; i < 3; i++) {
      const dir = join(baseDir, `node${i}`);
      mkdirSync(join(dir, 'data'), { recursive: true });
      specs.push({ id: `node${i}`, apiPort: await TcpForwarder.freePort(), clusterPort: await TcpForwarder.freePort(), dir, kind: options.kind ?? 'openbao' });
    }
    for (const spec of specs) writeFileSync(join(spec.dir, 'config.hcl'), nodeConfig(spec, specs, options));
    const cluster = new RaftCluster(specs.map((s) => new RaftNode(s)), baseDir);
    try {
      for (const node of cluster.nodes) node.start();
      await cluster.initialise();
      return cluster;
    } catch (e) {
      const logs = cluster.nodes.map((n) => `--- ${n.spec.id}\n${n.log().slice(-3000)}`).join('\n');
      await cluster.close();
      throw new Error(`${(e as Error).message}\n${logs}`);
    }
  }

  private async initialise(): Promise<void> {
    const [first, ...others] = this.nodes;
    await waitFor(async () => (await first.request('GET', 'sys/seal-status').catch(() => ({ status: 0 }))).status === 200, 30_000, 'node0 listening');
    const init = await first.request('PUT', 'sys/init', { secret_shares: 1, secret_threshold: 1 }, undefined, 60_000);
    if (init.status !== 200) throw new Error(`sys/init: ${init.status} ${JSON.stringify(init.json)}`);
    this.rootToken = init.json.root_token;
    this.unsealKey = init.json.keys_base64?.[0] ?? init.json.keys_b64?.[0] ?? init.json.keys[0];
    captureSecret(this.rootToken);
    captureSecret(this.unsealKey);
    await this.unseal(first);
    await waitFor(async () => (await first.role()) === 'active', 30_000, 'node0 active');
    // New voters are promoted after this much stable contact (default 10 s).
    await this.mustOk(first, 'POST', 'sys/storage/raft/autopilot/configuration', { server_stabilization_time: '1s' });
    for (const node of others) await this.unseal(node);
    await waitFor(async () => (await this.voters()) === 3, 60_000, 'three Raft voters');
    await waitFor(async () => (await Promise.all(others.map((n) => n.role()))).every((r) => r === 'standby'), 30_000, 'two standbys');
    await this.setUp(first);
  }

  private async mustOk(node: RaftNode, method: string, path: string, body?: unknown): Promise<{ status: number; json: any }> {
    const res = await node.request(method, path, body, this.rootToken, 10_000);
    if (res.status >= 300) throw new Error(`${method} ${path}: ${res.status} ${JSON.stringify(res.json)}`);
    return res;
  }

  /** Voters in the Raft configuration, as the active node sees it (0 when it cannot tell). */
  async voters(): Promise<number> {
    const active = await this.active();
    if (!active) return 0;
    const res = await active.request('GET', 'sys/storage/raft/configuration', undefined, this.rootToken).catch(() => undefined);
    const servers: { voter: boolean }[] = res?.json?.data?.config?.servers ?? [];
    return servers.filter((s) => s.voter).length;
  }

  private async setUp(active: RaftNode): Promise<void> {
    await this.mustOk(active, 'POST', 'sys/mounts/transit', { type: 'transit' });
    await this.mustOk(active, 'POST', 'transit/keys/kms', { type: 'aes256-gcm96' });
    await this.mustOk(active, 'PUT', 'sys/policies/acl/kms', { policy: readFileSync(join(REPO_ROOT, 'manifests/kms-policy.hcl'), 'utf8') });
    const token = await this.mustOk(active, 'POST', 'auth/token/create-orphan', { policies: ['kms'], no_default_policy: true, ttl: '24h' });
    this.kmsToken = token.json.auth.client_token;
    captureSecret(this.kmsToken);
  }

  async unseal(node: RaftNode): Promise<void> {
    await waitFor(async () => (await node.request('GET', 'sys/seal-status').catch(() => ({ status: 0 }))).status === 200, 30_000, `${node.spec.id} listening`);
    // A node that has not joined yet answers "not initialized" until retry_join (every 2 s) reaches the leader.
    let last = '';
    await waitFor(async () => {
      const res = await node.request('PUT', 'sys/unseal', { key: this.unsealKey }, undefined, 10_000);
      last = `${res.status} ${JSON.stringify(res.json)}`;
      if (res.status !== 200 && !last.includes('not initialized')) throw new Error(`unseal ${node.spec.id}: ${last}`);
      return res.status === 200;
    }, 60_000, `${node.spec.id} unsealed`, 500).catch((e) => {
      throw new Error(`${(e as Error).message} (last answer ${last})`);
    });
  }

  /** The node whose sys/health says active, if any. */
  async active(): Promise<RaftNode | undefined> {
    const roles = await Promise.all(this.nodes.map((n) => n.role()));
    const i = roles.indexOf('active');
    return i < 0 ? undefined : this.nodes[i];
  }

  async waitForActive(timeoutMs = 60_000, except?: RaftNode): Promise<RaftNode> {
    let found: RaftNode | undefined;
    await waitFor(async () => {
      found = await this.active();
      return found !== undefined && found !== except;
    }, timeoutMs, 'an active node', 100);
    return found as RaftNode;
  }

  /** Starts a killed node again and unseals it; it rejoins from its Raft data. */
  async restart(node: RaftNode): Promise<void> {
    node.start();
    await this.unseal(node);
  }

  async close(): Promise<void> {
    await Promise.all(this.nodes.map((n) => n.stop().catch(() => undefined)));
    for (const n of this.nodes) if (n.pid) process.kill(n.pid, 'SIGKILL');
    rmSync(this.baseDir, { recursive: true, force: true });
  }
}

function nodeConfig(spec: NodeSpec, all: readonly NodeSpec[], options: RaftClusterOptions): string {
  const joins = all
    .filter((s) => s !== spec)
    .map((s) => `  retry_join {\n    leader_api_addr = "http://127.0.0.1:${s.apiPort}"\n  }\n`)
    .join('');
  const multiplier = options.performanceMultiplier ? `  performance_multiplier = ${options.performanceMultiplier}\n` : '';
  return (
    `storage "raft" {\n  path = "${join(spec.dir, 'data')}"\n  node_id = "${spec.id}"\n${multiplier}${joins}}\n` +
    `listener "tcp" {\n  address = "127.0.0.1:${spec.apiPort}"\n  cluster_address = "127.0.0.1:${spec.clusterPort}"\n  tls_disable = true\n}\n` +
    `api_addr = "http://127.0.0.1:${spec.apiPort}"\ncluster_addr = "https://127.0.0.1:${spec.clusterPort}"\n` +
    `log_level = "warn"\n` +
    // Vault locks its memory with mlock unless told not to, which fails under a small RLIMIT_MEMLOCK.
    (spec.kind === 'vault' ? 'disable_mlock = true\n' : '') +
    (options.disableStandbyReads && spec.kind === 'openbao' ? 'disable_standby_reads = true\n' : '')
  );
}

async function waitFor(check: () => Promise<boolean>, timeoutMs: number, what: string, stepMs = 200): Promise<void> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    let done = false;
    try {
      done = await check();
    } catch (e) {
      if ((e as Error).message.startsWith('unseal ')) throw e;
    }
    if (done) return;
    if (Date.now() > until) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(stepMs);
  }
}
