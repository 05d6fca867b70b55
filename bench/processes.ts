import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

/**
 * Every child process the benchmark starts (OpenBao behind the fault proxy, the plugins,
 * OpenBao, the load generator), tracked so that each one is stopped on every path out:
 * normal end, an exception, or SIGINT/SIGTERM of the benchmark itself.
 */
export const REPO_ROOT = resolve(__dirname, '../..');
export const ARTIFACT = join(REPO_ROOT, 'dist/artifact/vault-kubernetes-kms');

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

// ------------------------------------------------------------ OpenBao behind the fault proxy

export interface VaultServerInfo {
  readonly url: string;
  readonly kmsToken: string;
  readonly rootToken: string;
}

/** Real OpenBao behind the fault proxy adding `latencyMs`, in a process of its own, never in the benchmark's event loop. */
export async function startProxiedOpenBao(latencyMs: number): Promise<{ child: Child; info: VaultServerInfo }> {
  const cli = join(REPO_ROOT, 'dist/test/support/proxied-openbao-cli.js');
  if (!existsSync(cli)) throw new Error(`${cli} is missing: run npm run build first`);
  const child = new Child(process.execPath, [cli, '--latency-ms', String(latencyMs)]);
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

