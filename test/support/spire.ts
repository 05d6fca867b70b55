import { execFile, spawn, type ChildProcess } from 'node:child_process';
import type { JsonWebKey } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { REPO_ROOT, sleep } from './plugin-process';
import { TcpForwarder } from './tcp-forwarder';

/**
 * A real SPIRE deployment on loopback for the SPIFFE tests: spire-server
 * (sqlite3 datastore and in-memory keys in a temp dir, join-token node
 * attestation) and one spire-agent (joined with a token, unix workload
 * attestor, its Workload API socket in the same temp dir). Both binaries are
 * built by `npm run tools` from test/spire/go.mod. The registration entries
 * are created before the agent starts, so its first sync brings them.
 */
export function spireBinary(name: 'spire-server' | 'spire-agent'): string {
  const path = join(REPO_ROOT, '.tools/bin', name);
  if (!existsSync(path)) throw new Error(`${name} not found at ${path}: run \`npm run tools\``);
  return path;
}

export interface SpireEntry {
  readonly spiffeId: string;
  /** Default: this test process's uid (`unix:uid:<uid>`), so the test itself is the workload. */
  readonly selectors?: readonly string[];
}

export interface SpireOptions {
  readonly trustDomain?: string;
  readonly entries: readonly SpireEntry[];
  /** Lifetime of the JWT-SVIDs the server signs (default_jwt_svid_ttl). */
  readonly jwtSvidTtl?: string;
}

const START_TIMEOUT_MS = 90_000;

export function ownUidSelector(): string {
  return `unix:uid:${process.getuid?.() ?? 0}`;
}

class SpireProcess {
  private readonly output: string[] = [];
  readonly exited: Promise<void>;

  constructor(readonly name: string, private readonly child: ChildProcess) {
    for (const s of [child.stdout, child.stderr]) s?.on('data', (c: Buffer) => this.output.push(c.toString('utf8')));
    this.exited = new Promise((r) => child.once('exit', () => r()));
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  log(): string {
    return this.output.join('');
  }

  signal(sig: NodeJS.Signals): void {
    if (this.running) this.child.kill(sig);
  }

  /** Stops the process by its PID: SIGTERM (after SIGCONT, in case a test paused it), SIGKILL after 10 s. */
  async stop(): Promise<void> {
    if (!this.running) return;
    this.child.kill('SIGCONT');
    this.child.kill('SIGTERM');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 10_000);
    await this.exited;
    clearTimeout(timer);
  }
}

export class SpireDeployment {
  private server: SpireProcess | undefined;
  private agent: SpireProcess | undefined;
  private serverPort = 0;
  private probeId = '';

  private constructor(
    readonly dir: string,
    readonly trustDomain: string,
    readonly serverSocket: string,
    readonly agentSocket: string,
  ) {}

  /** The Workload API endpoint as SPIFFE_ENDPOINT_SOCKET would carry it. */
  get endpoint(): string {
    return `unix://${this.agentSocket}`;
  }

  get agentPid(): number | undefined {
    return this.agent?.pid;
  }

  static async start(options: SpireOptions): Promise<SpireDeployment> {
    if (options.entries.length === 0) throw new Error('SpireDeployment needs at least one registration entry');
    const dir = mkdtempSync(join(tmpdir(), 'kms-spire-'));
    const trustDomain = options.trustDomain ?? 'kms.test';
    const spire = new SpireDeployment(dir, trustDomain, join(dir, 'server.sock'), join(dir, 'agent.sock'));
    try {
      spire.serverPort = await TcpForwarder.freePort();
      spire.probeId = options.entries[0].spiffeId;
      spire.startServer(options.jwtSvidTtl ?? '5m');
      await spire.waitFor('spire-server', () => spire.serverCli(['healthcheck']));

      const nodeId = `spiffe://${trustDomain}/kms-test-node`;
      const tokenOut = await spire.serverCli(['token', 'generate', '-spiffeID', nodeId, '-ttl', '600']);
      const joinToken = /Token:\s*(\S+)/.exec(tokenOut)?.[1];
      if (!joinToken) throw new Error(`spire-server token generate printed no token: ${tokenOut}`);
      for (const entry of options.entries) await spire.register(nodeId, entry);
      writeFileSync(join(dir, 'bundle.pem'), await spire.serverCli(['bundle', 'show', '-format', 'pem']));

      spire.startAgent(joinToken);
      await spire.agentReady();
      return spire;
    } catch (e) {
      const logs = `\n--- spire-server ---\n${spire.server?.log() ?? ''}\n--- spire-agent ---\n${spire.agent?.log() ?? ''}`;
      await spire.close();
      throw new Error(`${(e as Error).message}${logs}`);
    }
  }

  /** Ready when the agent hands this process a JWT-SVID for the first entry (attested, synced, signed). */
  private agentReady(): Promise<void> {
    return this.waitFor('spire-agent', () =>
      run(spireBinary('spire-agent'), ['api', 'fetch', 'jwt', '-audience', 'readiness-probe', '-spiffeID', this.probeId, '-socketPath', this.agentSocket]),
    );
  }

  private startServer(jwtSvidTtl: string): void {
    const conf = join(this.dir, 'server.conf');
    writeFileSync(
      conf,
      `server {
  bind_address = "127.0.0.1"
  bind_port = "${this.serverPort}"
  socket_path = "${this.serverSocket}"
  trust_domain = "${this.trustDomain}"
  data_dir = "${join(this.dir, 'server-data')}"
  log_level = "INFO"
  default_jwt_svid_ttl = "${jwtSvidTtl}"
}
plugins {
  DataStore "sql" {
    plugin_data {
      database_type = "sqlite3"
      connection_string = "${join(this.dir, 'server-data', 'datastore.sqlite3')}"
    }
  }
  NodeAttestor "join_token" {
    plugin_data {}
  }
  KeyManager "memory" {
    plugin_data {}
  }
}
`,
    );
    this.server = new SpireProcess('spire-server', spawn(spireBinary('spire-server'), ['run', '-config', conf], { stdio: ['ignore', 'pipe', 'pipe'], env: { PATH: process.env.PATH } }));
  }

  /** With a join token: the first start (node attestation). Without: a restart, on the agent SVID kept in its data dir. */
  private startAgent(joinToken?: string): void {
    const conf = join(this.dir, 'agent.conf');
    writeFileSync(
      conf,
      `agent {
  data_dir = "${join(this.dir, 'agent-data')}"
  log_level = "INFO"
  server_address = "127.0.0.1"
  server_port = "${this.serverPort}"
  socket_path = "${this.agentSocket}"
  trust_bundle_path = "${join(this.dir, 'bundle.pem')}"
  trust_domain = "${this.trustDomain}"
}
plugins {
  NodeAttestor "join_token" {
    plugin_data {}
  }
  KeyManager "disk" {
    plugin_data {
      directory = "${join(this.dir, 'agent-data')}"
    }
  }
  WorkloadAttestor "unix" {
    plugin_data {}
  }
}
`,
    );
    this.agent = new SpireProcess(
      'spire-agent',
      spawn(spireBinary('spire-agent'), ['run', '-config', conf, ...(joinToken ? ['-joinToken', joinToken] : [])], { stdio: ['ignore', 'pipe', 'pipe'], env: { PATH: process.env.PATH } }),
    );
  }

  private async register(parentId: string, entry: SpireEntry): Promise<void> {
    const selectors = (entry.selectors ?? [ownUidSelector()]).flatMap((s) => ['-selector', s]);
    await this.serverCli(['entry', 'create', '-parentID', parentId, '-spiffeID', entry.spiffeId, ...selectors]);
  }

  /** Runs `spire-server <args> -socketPath <server socket>`; its stdout, or an error with its output. */
  serverCli(args: readonly string[]): Promise<string> {
    return run(spireBinary('spire-server'), [...args, '-socketPath', this.serverSocket]);
  }

  /** The public keys JWT-SVIDs are signed with, as JWKs (the trust bundle's jwt-svid keys). */
  async jwtSigningKeys(): Promise<JsonWebKey[]> {
    const bundle = JSON.parse(await this.serverCli(['bundle', 'show', '-format', 'spiffe'])) as { keys: (JsonWebKey & { use?: string })[] };
    return bundle.keys.filter((k) => k.use === 'jwt-svid');
  }

  /** Freezes the agent (SIGSTOP): its socket still accepts connections but nothing answers. */
  pauseAgent(): void {
    this.agent?.signal('SIGSTOP');
  }

  resumeAgent(): void {
    this.agent?.signal('SIGCONT');
  }

  async stopAgent(): Promise<void> {
    await this.agent?.stop();
  }

  /** Starts the stopped agent again (as after an upgrade of its DaemonSet) and waits until it serves JWT-SVIDs. */
  async restartAgent(): Promise<void> {
    await this.agent?.stop();
    this.startAgent();
    await this.agentReady();
  }

  log(): string {
    return `--- spire-server ---\n${this.server?.log() ?? ''}\n--- spire-agent ---\n${this.agent?.log() ?? ''}`;
  }

  async close(): Promise<void> {
    await this.agent?.stop();
    await this.server?.stop();
    rmSync(this.dir, { recursive: true, force: true });
  }

  private async waitFor(what: string, probe: () => Promise<unknown>): Promise<void> {
    const until = Date.now() + START_TIMEOUT_MS;
    let last: unknown;
    for (;;) {
      for (const p of [this.server, this.agent]) {
        if (p && !p.running) throw new Error(`${p.name} exited while waiting for ${what}`);
      }
      try {
        await probe();
        return;
      } catch (e) {
        last = e;
      }
      if (Date.now() > until) throw new Error(`${what} not ready within ${START_TIMEOUT_MS / 1000} s: ${(last as Error)?.message}`);
      await sleep(250);
    }
  }
}

/** Runs a SPIRE CLI command to completion (30 s at most); resolves with its stdout. */
function run(cmd: string, args: readonly string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(cmd, [...args], { timeout: 30_000, env: { PATH: process.env.PATH } }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${cmd.split('/').pop()} ${args.slice(0, 2).join(' ')}: ${err.message.split('\n')[0]} ${stderr.trim()} ${stdout.trim()}`));
      else resolve(stdout);
    });
  });
}
