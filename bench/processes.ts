import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

/**
 * Every child process the benchmark starts (the Vault test server, the plugin,
 * the Go plugin model), tracked so that each one is stopped on every path out:
 * normal end, an exception, or SIGINT/SIGTERM of the benchmark itself.
 */
export const REPO_ROOT = resolve(__dirname, '../..');
export const ARTIFACT = join(REPO_ROOT, 'dist/artifact/vault-kubernetes-kms');
export const GO_MODEL_DIR = join(REPO_ROOT, 'bench/go-upstream-model');
export const GO_MODEL_BIN = join(REPO_ROOT, 'bench/.bin/go-upstream-model');
export const GO_MODEL_LABEL = 'Go plugin model (request pattern of upstream v1.4.0, not the real binary)';

const LIVE = new Set<ChildProcess>();
const TEMP_DIRS = new Set<string>();

export function killAllChildren(): void {
  for (const c of LIVE) {
    try {
      c.kill('SIGKILL');
    } catch {
      /* already gone */
    }
  }
  LIVE.clear();
  for (const d of TEMP_DIRS) rmSync(d, { recursive: true, force: true });
  TEMP_DIRS.clear();
}

let handlersInstalled = false;
export function installCleanupHandlers(): void {
  if (handlersInstalled) return;
  handlersInstalled = true;
  process.on('exit', killAllChildren);
  for (const sig of ['SIGINT', 'SIGTERM'] as const) {
    process.on(sig, () => {
      killAllChildren();
      process.exit(130);
    });
  }
}

export function tempDir(prefix: string): string {
  const d = mkdtempSync(join(tmpdir(), prefix));
  TEMP_DIRS.add(d);
  return d;
}

export function removeTempDir(d: string): void {
  rmSync(d, { recursive: true, force: true });
  TEMP_DIRS.delete(d);
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** A spawned child with its output read line by line (the last lines kept for error messages). */
export class Child {
  readonly process: ChildProcess;
  readonly exited: Promise<number | null>;
  private readonly tail: string[] = [];
  private readonly listeners: Array<(line: string) => void> = [];

  constructor(cmd: string, args: readonly string[], env: Record<string, string | undefined> = {}) {
    this.process = spawn(cmd, [...args], {
      cwd: REPO_ROOT,
      env: { PATH: process.env.PATH, HOME: process.env.HOME, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    LIVE.add(this.process);
    this.exited = new Promise((res) =>
      this.process.once('exit', (code) => {
        LIVE.delete(this.process);
        res(code);
      }),
    );
    this.process.once('error', () => LIVE.delete(this.process));
    const reader = () => {
      let partial = '';
      return (chunk: Buffer) => {
        const lines = (partial + chunk.toString('utf8')).split('\n');
        partial = lines.pop() ?? '';
        for (const l of lines) {
          this.tail.push(l);
          if (this.tail.length > 60) this.tail.shift();
          for (const f of this.listeners) f(l);
        }
      };
    };
    this.process.stdout?.on('data', reader());
    this.process.stderr?.on('data', reader());
  }

  get pid(): number {
    if (this.process.pid === undefined) throw new Error('child has no pid (spawn failed)');
    return this.process.pid;
  }

  get running(): boolean {
    return this.process.exitCode === null && this.process.signalCode === null;
  }

  output(): string {
    return this.tail.join('\n');
  }

  /** Resolves with the first line that pred maps to a value; rejects on exit or timeout. */
  waitForLine<T>(pred: (line: string) => T | undefined, timeoutMs: number): Promise<T> {
    return new Promise<T>((resolveLine, reject) => {
      const timer = setTimeout(() => {
        cleanup();
        reject(new Error(`expected output not seen within ${timeoutMs} ms:\n${this.output()}`));
      }, timeoutMs);
      const onLine = (l: string) => {
        const v = pred(l);
        if (v !== undefined) {
          cleanup();
          resolveLine(v);
        }
      };
      const onExit = () => {
        cleanup();
        reject(new Error(`process exited before the expected output:\n${this.output()}`));
      };
      const cleanup = () => {
        clearTimeout(timer);
        const i = this.listeners.indexOf(onLine);
        if (i >= 0) this.listeners.splice(i, 1);
        this.process.off('exit', onExit);
      };
      this.listeners.push(onLine);
      this.process.once('exit', onExit);
      for (const l of this.tail) onLine(l);
    });
  }

  /** SIGTERM, then SIGKILL after graceMs. */
  async stop(graceMs = 5000): Promise<void> {
    if (!this.running) return;
    this.process.kill('SIGTERM');
    const timer = setTimeout(() => this.process.kill('SIGKILL'), graceMs);
    await this.exited;
    clearTimeout(timer);
  }
}

export function parseJsonLine(line: string): Record<string, unknown> | undefined {
  if (!line.startsWith('{')) return undefined;
  try {
    return JSON.parse(line) as Record<string, unknown>;
  } catch {
    return undefined;
  }
}

/**
 * Resident memory from /proc/<pid>/status in MiB: VmRSS now, VmHWM (the peak),
 * and the split of VmRSS into anonymous memory (heap, stacks) and file-backed
 * pages (the mapped executable and libraries: shared and reclaimable).
 */
export function memoryOf(pid: number): { rssMb: number; hwmMb: number; anonMb: number; fileMb: number } {
  const text = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (name: string) => {
    const m = new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(text);
    if (!m) throw new Error(`${name} missing in /proc/${pid}/status`);
    return Number(m[1]);
  };
  return { rssMb: kb('VmRSS') / 1024, hwmMb: kb('VmHWM') / 1024, anonMb: kb('RssAnon') / 1024, fileMb: kb('RssFile') / 1024 };
}

// ------------------------------------------------------------ Vault test server

export interface VaultServerInfo {
  readonly url: string;
  readonly kmsToken: string;
  readonly rootToken: string;
}

/** The Vault test server in its own process, never in the benchmark's event loop. */
export async function startVaultServer(latencyMs: number): Promise<{ child: Child; info: VaultServerInfo }> {
  const cli = join(REPO_ROOT, 'dist/test/support/vault-server/cli.js');
  if (!existsSync(cli)) throw new Error(`${cli} is missing: run npm run build first`);
  const child = new Child(process.execPath, [cli, '--port', '0', '--host', '127.0.0.1', '--latency-ms', String(latencyMs)]);
  try {
    const info = await child.waitForLine((l) => {
      const j = parseJsonLine(l);
      return j && typeof j.url === 'string' ? (j as unknown as VaultServerInfo) : undefined;
    }, 15_000);
    return { child, info };
  } catch (e) {
    await child.stop();
    throw e;
  }
}

// ------------------------------------------------------------ KMS targets

export type KmsKind = 'plugin' | 'go';

export interface KmsCommand {
  readonly cmd: string;
  readonly prefix: readonly string[];
  /** Shown in the report. */
  readonly description: string;
}

export type PluginChoice = 'auto' | 'artifact' | 'node';

let pluginChoice: PluginChoice = 'auto';
export function choosePlugin(choice: PluginChoice): void {
  pluginChoice = choice;
}

/** Newest modification time (ms) of the plugin's TypeScript sources (what the artifact is bundled from). */
function newestSource(dir = join(REPO_ROOT, 'src')): number {
  let newest = 0;
  if (!existsSync(dir)) return newest;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) newest = Math.max(newest, newestSource(p));
    else if (e.name.endsWith('.ts')) newest = Math.max(newest, statSync(p).mtimeMs);
  }
  return newest;
}

/**
 * This plugin: the packaged single executable if it was built (or --plugin
 * artifact), else the compiled CLI. The description says which, and warns when
 * the artifact is older than the sources (it would measure old code).
 */
export function pluginCommand(): KmsCommand {
  const useArtifact = pluginChoice === 'artifact' || (pluginChoice === 'auto' && existsSync(ARTIFACT));
  if (useArtifact) {
    if (!existsSync(ARTIFACT)) throw new Error(`${ARTIFACT} does not exist: run npm run build:artifact`);
    const built = statSync(ARTIFACT).mtimeMs;
    const stale = newestSource() > built;
    const when = new Date(built).toISOString().replace(/\.\d+Z$/, 'Z');
    return {
      cmd: ARTIFACT,
      prefix: [],
      description: `the packaged artifact dist/artifact/vault-kubernetes-kms (Node.js single executable, built ${when}${stale ? '; WARNING: older than the newest file in src/, so it may not contain the latest code' : ''})`,
    };
  }
  return {
    cmd: process.execPath,
    prefix: [join(REPO_ROOT, 'dist/src/main.js')],
    description: `\`node dist/src/main.js\` (${pluginChoice === 'node' ? 'chosen with --plugin node' : 'no packaged artifact found'})`,
  };
}

export function goModelCommand(): KmsCommand {
  return { cmd: GO_MODEL_BIN, prefix: [], description: `${GO_MODEL_LABEL}, bench/.bin/go-upstream-model` };
}

/** go build of bench/go-upstream-model into bench/.bin/; the error text if it fails. */
export function buildGoModel(): string | undefined {
  const res = spawnSync('go', ['build', '-o', GO_MODEL_BIN, '.'], { cwd: GO_MODEL_DIR, encoding: 'utf8', timeout: 300_000 });
  if (res.error) return `go build failed: ${res.error.message}`;
  if (res.status !== 0) return `go build failed (exit ${res.status}): ${(res.stderr || res.stdout).trim().slice(0, 800)}`;
  return undefined;
}

/** The constant-answer reference servers (one gRPC hop, no Vault): grpc-js and grpc-go. */
export const GO_ECHO_BIN = join(REPO_ROOT, 'bench/.bin/grpc-echo-go');
export function buildGoEcho(): string | undefined {
  const res = spawnSync('go', ['build', '-o', GO_ECHO_BIN, './echo'], { cwd: GO_MODEL_DIR, encoding: 'utf8', timeout: 300_000 });
  if (res.error) return `go build failed: ${res.error.message}`;
  if (res.status !== 0) return `go build failed (exit ${res.status}): ${(res.stderr || res.stdout).trim().slice(0, 800)}`;
  return undefined;
}
export function echoCommand(kind: 'grpc-js' | 'grpc-go'): KmsCommand {
  return kind === 'grpc-js'
    ? { cmd: process.execPath, prefix: [join(REPO_ROOT, 'dist/bench/grpc-echo-server.js')], description: 'grpc-js constant Status server' }
    : { cmd: GO_ECHO_BIN, prefix: [], description: 'grpc-go constant Status server' };
}

// ------------------------------------------------------------ CPU accounting

/** Aggregate CPU jiffies of the machine (/proc/stat). */
export function machineCpu(): { busy: number; total: number } {
  const line = readFileSync('/proc/stat', 'utf8').split('\n')[0]!;
  const v = line.trim().split(/\s+/).slice(1).map(Number);
  const [user = 0, nice = 0, system = 0, idle = 0, iowait = 0, irq = 0, softirq = 0, steal = 0] = v;
  const busy = user + nice + system + irq + softirq + steal;
  return { busy, total: busy + idle + iowait };
}

/** utime+stime (+ reaped children) jiffies of one process; 0 if it is gone. */
export function processCpu(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // Fields after the command: state(3) ... utime(14) stime(15) cutime(16) cstime(17) → indexes 11..14 here.
    return Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14]);
  } catch {
    return 0;
  }
}

/**
 * Measures what share of the machine's CPU capacity went to processes other
 * than `own` over an interval: a check that nothing else disturbed a run.
 */
export class ForeignCpuMeter {
  private readonly m0 = machineCpu();
  private readonly o0: number;
  constructor(private readonly own: () => number[]) {
    this.o0 = own().reduce((a, pid) => a + processCpu(pid), 0);
  }
  /** Fraction 0..1 of total CPU capacity used by other processes since construction. */
  foreignShare(): number {
    const m1 = machineCpu();
    const o1 = this.own().reduce((a, pid) => a + processCpu(pid), 0);
    const total = m1.total - this.m0.total;
    if (total <= 0) return 0;
    return Math.max(0, (m1.busy - this.m0.busy - (o1 - this.o0)) / total);
  }
}

/** Machine busy share (0..1) over sampleMs, with nothing of ours running. */
export async function machineBusy(sampleMs: number): Promise<number> {
  const a = machineCpu();
  const own0 = processCpu(process.pid);
  await sleep(sampleMs);
  const b = machineCpu();
  const own1 = processCpu(process.pid);
  const total = b.total - a.total;
  return total <= 0 ? 0 : Math.max(0, (b.busy - a.busy - (own1 - own0)) / total);
}

export function goVersion(): string {
  const res = spawnSync('go', ['version'], { encoding: 'utf8', timeout: 30_000 });
  return res.status === 0 ? res.stdout.trim() : 'go not found';
}

/** The same flags for both: token auth, a private socket, health on a free loopback port, v1 served. */
export function kmsArgs(kind: KmsKind, vault: VaultServerInfo, socketPath: string): string[] {
  const common = [`-vault-address=${vault.url}`, '-auth-method=token', `-token=${vault.kmsToken}`, `-socket=unix://${socketPath}`, '-health-port=127.0.0.1:0', '-disable-v1=false'];
  // The plugin's background Vault check (3 requests per run) would otherwise land inside
  // request-count windows; 60 s keeps those counts per operation exact.
  return kind === 'plugin' ? [...common, '-health-check-interval=60s'] : common;
}

export class KmsProcess {
  readonly socketPath: string;
  private readonly dir: string;
  readonly child: Child;
  readonly spawnedAt: bigint;

  constructor(readonly kind: KmsKind, command: KmsCommand, vault: VaultServerInfo) {
    this.dir = tempDir(`kms-bench-${kind}-`);
    this.socketPath = join(this.dir, 'kms.socket');
    this.spawnedAt = process.hrtime.bigint();
    this.child = new Child(command.cmd, [...command.prefix, ...kmsArgs(kind, vault, this.socketPath)]);
  }

  get pid(): number {
    return this.child.pid;
  }

  /** Milliseconds from spawn until the socket file exists (polled every millisecond). */
  async waitForSocket(timeoutMs = 15_000): Promise<number> {
    const until = Date.now() + timeoutMs;
    while (!existsSync(this.socketPath)) {
      if (!this.child.running) throw new Error(`${this.kind} exited before its socket appeared:\n${this.child.output()}`);
      if (Date.now() > until) throw new Error(`${this.kind}: socket did not appear within ${timeoutMs} ms:\n${this.child.output()}`);
      await sleep(1);
    }
    return Number(process.hrtime.bigint() - this.spawnedAt) / 1e6;
  }

  healthPort(timeoutMs = 15_000): Promise<number> {
    return this.child.waitForLine((l) => {
      const j = parseJsonLine(l);
      return j && j.message === 'health endpoints listening' && typeof j.port === 'number' ? j.port : undefined;
    }, timeoutMs);
  }

  async stop(): Promise<void> {
    try {
      await this.child.stop();
    } finally {
      removeTempDir(this.dir);
    }
  }
}
