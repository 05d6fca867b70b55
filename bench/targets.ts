import { spawn, spawnSync } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { ARTIFACT, Child, REPO_ROOT, memoryOf, processCpu, removeTempDir, sleep, tempDir } from './processes';
import { freePort, type VaultBackend } from './vault-backends';

/**
 * The things measured: this plugin (compiled CLI and packaged artifact), the
 * real Go plugin v1.4.0, the floor (Transit over HTTP with no plugin) and the
 * transport limit (a bare grpc-js server answering from memory).
 */
export type TargetKey = 'floor' | 'node' | 'artifact' | 'go' | 'transport';

export const TARGET_LABEL: Record<TargetKey, string> = {
  floor: 'floor (direct HTTP)',
  node: 'ours (node dist)',
  artifact: 'ours (artifact)',
  go: 'Go plugin v1.4.0',
  transport: 'transport limit (bare grpc-js)',
};

export const LOADGEN_DIR = join(REPO_ROOT, 'bench/loadgen');
export const LOADGEN_BIN = join(REPO_ROOT, 'bench/.bin/loadgen');
export const GO_PLUGIN_BIN = process.env.KMS_TEST_GO_PLUGIN ?? join(REPO_ROOT, '.tools/bin/vault-kubernetes-kms-go');
export const NODE_MAIN = join(REPO_ROOT, 'dist/src/main.js');
const TRANSPORT_SERVER = join(REPO_ROOT, 'dist/bench/transport-limit-server.js');

/** go build of the load generator; throws with the compiler's output. */
export function buildLoadgen(): void {
  const res = spawnSync('go', ['build', '-o', LOADGEN_BIN, '.'], { cwd: LOADGEN_DIR, encoding: 'utf8', timeout: 600_000 });
  if (res.error) throw new Error(`go build of bench/loadgen failed: ${res.error.message}`);
  if (res.status !== 0) throw new Error(`go build of bench/loadgen failed (exit ${res.status}): ${(res.stderr || res.stdout).trim().slice(0, 2000)}`);
}

export interface LoadgenResult {
  mode: string;
  wallMs: number;
  opsPerSec?: number;
  latency: { count: number; p50Ms: number; p90Ms: number; p99Ms: number; maxMs: number; meanMs: number; errors: number };
  byOp?: Record<string, LoadgenResult['latency']>;
  firstError?: string;
  startupMs?: number;
  socketMs?: number;
}

/** Runs the load generator once and parses its JSON line; throws on a non-zero exit. */
export function loadgen(args: readonly string[], timeoutMs = 600_000): Promise<LoadgenResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(LOADGEN_BIN, [...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.stdout.on('data', (b: Buffer) => (out += b.toString()));
    child.stderr.on('data', (b: Buffer) => (err += b.toString()));
    child.once('error', reject);
    child.once('exit', (code) => {
      clearTimeout(timer);
      if (code !== 0) return reject(new Error(`loadgen ${args.join(' ')} exited ${code}: ${err.trim().slice(0, 1500)}`));
      try {
        resolve(JSON.parse(out.trim().split('\n').pop() ?? '') as LoadgenResult);
      } catch {
        reject(new Error(`loadgen printed no JSON: ${out.slice(0, 500)} ${err.slice(0, 500)}`));
      }
    });
  });
}

/** The same flags for every plugin; only the health address differs (see kmsArgs). */
export function pluginArgs(kind: 'ours' | 'go', vault: VaultBackend, socket: string, healthPort: number): string[] {
  const common = [`-vault-address=${vault.url}`, '-auth-method=token', `-token=${vault.kmsToken}`, `-socket=unix://${socket}`, '-disable-v1=false'];
  // The Go plugin takes -health-port as a bare port number (and listens on every interface);
  // ours also takes host:port, so it stays on loopback. Our background Vault check runs every
  // 60 s instead of the default so its 3 requests stay out of the per-scenario counts.
  return kind === 'go' ? [...common, `-health-port=${healthPort}`] : [...common, '-health-port=127.0.0.1:0', '-health-check-interval=60s'];
}

export function commandFor(key: Exclude<TargetKey, 'floor'>, vault: VaultBackend | undefined, socket: string, healthPort: number): [string, string[]] {
  switch (key) {
    case 'transport':
      return [process.execPath, [TRANSPORT_SERVER, socket]];
    case 'node':
      return [process.execPath, [NODE_MAIN, ...pluginArgs('ours', vault!, socket, healthPort)]];
    case 'artifact':
      return [ARTIFACT, pluginArgs('ours', vault!, socket, healthPort)];
    case 'go':
      return [GO_PLUGIN_BIN, pluginArgs('go', vault!, socket, healthPort)];
  }
}

export function checkTargetAvailable(key: TargetKey): string | undefined {
  if (key === 'artifact' && !existsSync(ARTIFACT)) return `${ARTIFACT} is missing (node scripts/build-artifact.mjs)`;
  if (key === 'go' && !existsSync(GO_PLUGIN_BIN)) return `${GO_PLUGIN_BIN} is missing (npm run tools, or KMS_TEST_GO_PLUGIN)`;
  if (key === 'node' && !existsSync(NODE_MAIN)) return `${NODE_MAIN} is missing (npm run build)`;
  return undefined;
}

export interface RssSample {
  tMs: number;
  rssMb: number;
}

/** A running KMS target with its memory sampled every 100 ms from /proc/<pid>/status. */
export class RunningTarget {
  readonly socket: string;
  readonly samples: RssSample[] = [];
  readonly child: Child;
  private readonly dir: string;
  private readonly t0 = Date.now();
  private timer?: NodeJS.Timeout;
  marks: Array<{ tMs: number; label: string }> = [];

  private constructor(readonly key: TargetKey, cmd: string, args: string[], dir: string, socket: string) {
    this.dir = dir;
    this.socket = socket;
    this.child = new Child(cmd, args);
    this.timer = setInterval(() => this.sample(), 100);
  }

  static async start(key: Exclude<TargetKey, 'floor'>, vault: VaultBackend | undefined): Promise<RunningTarget> {
    const dir = tempDir(`kms-bench-${key}-`);
    const socket = join(dir, 'kms.socket');
    const [cmd, args] = commandFor(key, vault, socket, await freePort());
    const t = new RunningTarget(key, cmd, args, dir, socket);
    try {
      await t.waitReady();
    } catch (e) {
      await t.stop();
      throw e;
    }
    return t;
  }

  private async waitReady(): Promise<void> {
    const until = Date.now() + 30_000;
    for (;;) {
      if (!this.child.running) throw new Error(`${this.key} exited during start-up:\n${this.child.output()}`);
      if (existsSync(this.socket)) {
        try {
          const r = await loadgen(['latency', '-socket', this.socket, '-op', 'status', '-n', '1', '-warmup', '0', '-deadline', '2s'], 10_000);
          if (r.latency.errors === 0) return;
        } catch {
          /* not ready yet */
        }
      }
      if (Date.now() > until) throw new Error(`${this.key}: no ok Status within 30 s:\n${this.child.output()}`);
      await sleep(50);
    }
  }

  get pid(): number {
    return this.child.pid;
  }

  sample(): RssSample | undefined {
    try {
      const s = { tMs: Date.now() - this.t0, rssMb: memoryOf(this.pid).rssMb };
      this.samples.push(s);
      return s;
    } catch {
      return undefined;
    }
  }

  mark(label: string): void {
    this.marks.push({ tMs: Date.now() - this.t0, label });
  }

  memory(): ReturnType<typeof memoryOf> {
    return memoryOf(this.pid);
  }

  cpuMs(): number {
    return processCpu(this.pid) * 10;
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    try {
      await this.child.stop();
    } finally {
      removeTempDir(this.dir);
    }
  }
}

/** Spawn → socket file, and spawn → first Status that says ok, measured by the load generator (it spawns the process itself). */
export async function startupMs(key: Exclude<TargetKey, 'floor'>, vault: VaultBackend | undefined): Promise<{ socketMs: number; okMs: number }> {
  const dir = tempDir(`kms-bench-startup-${key}-`);
  try {
    const socket = join(dir, 'kms.socket');
    const [cmd, args] = commandFor(key, vault, socket, await freePort());
    const r = await loadgen(['startup', '-socket', socket, '-timeout', '20s', '--', cmd, ...args], 60_000);
    return { socketMs: r.socketMs ?? NaN, okMs: r.startupMs! };
  } finally {
    removeTempDir(dir);
  }
}

export function artifactBuiltAt(): string | undefined {
  return existsSync(ARTIFACT) ? statSync(ARTIFACT).mtime.toISOString().replace(/\.\d+Z$/, 'Z') : undefined;
}
