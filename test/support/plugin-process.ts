import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { captureOutput, captureSecret } from './leak-capture';

/**
 * Starts the plugin as an operator would: the built CLI (or, with
 * KMS_PLUGIN_BIN, the packaged artifact the Containerfile ships) as a
 * subprocess with real flags, capturing every log line for assertions and for
 * the secret-leak scan.
 */
export const REPO_ROOT = resolve(__dirname, '../../..');
/** Every line any plugin process printed during this test file; scanned for secrets. */
export const ALL_PLUGIN_OUTPUT: string[] = [];

export function pluginCommand(): { cmd: string; prefix: string[] } {
  const bin = process.env.KMS_PLUGIN_BIN;
  if (bin) return { cmd: resolve(bin), prefix: [] };
  return { cmd: process.execPath, prefix: [join(REPO_ROOT, 'dist/src/main.js')] };
}

/** The real Go plugin v1.4.0 (`npm run tools` builds it), or KMS_TEST_GO_PLUGIN. */
export function goPluginCommand(): { cmd: string; prefix: string[] } {
  const cmd = process.env.KMS_TEST_GO_PLUGIN || join(REPO_ROOT, '.tools/bin/vault-kubernetes-kms-go');
  if (!existsSync(cmd)) throw new Error(`the Go plugin is not at ${cmd}: run \`npm run tools\` (or set KMS_TEST_GO_PLUGIN)`);
  return { cmd, prefix: [] };
}

export function tempSocketDir(): string {
  return mkdtempSync(join(tmpdir(), 'kms-e2e-'));
}

export interface LaunchOptions {
  /** Command and arguments the plugin command is appended to, e.g. ['prlimit', '--nofile=400:400', '--']. */
  readonly launcher?: readonly string[];
  /** Run as this user and group (the test must run as root). */
  readonly uid?: number;
  readonly gid?: number;
}

export class PluginProcess {
  readonly stdout: string[] = [];
  readonly stderr: string[] = [];
  readonly exited: Promise<number | null>;
  private readonly child: ChildProcess;

  constructor(args: readonly string[], env: Record<string, string | undefined> = {}, cwd = REPO_ROOT, command = pluginCommand(), launch: LaunchOptions = {}) {
    // A launcher (e.g. prlimit) runs the plugin with exec, so the child's pid is the plugin's.
    const cmd = launch.launcher ? launch.launcher[0] : command.cmd;
    const prefix = launch.launcher ? [...launch.launcher.slice(1), command.cmd, ...command.prefix] : command.prefix;
    for (const a of args) if (/^-+(token|approle-secret-id)=/.test(a)) captureSecret(a.slice(a.indexOf('=') + 1));
    for (const [k, v] of Object.entries(env)) if (/TOKEN$|SECRET_ID$/.test(k)) captureSecret(v);
    const baseEnv: Record<string, string | undefined> = { PATH: process.env.PATH, HOME: process.env.HOME };
    this.child = spawn(cmd, [...prefix, ...args], { env: { ...baseEnv, ...env }, cwd, stdio: ['ignore', 'pipe', 'pipe'], uid: launch.uid, gid: launch.gid });
    const collect = (into: string[]) => {
      let partial = '';
      return (chunk: Buffer) => {
        const text = partial + chunk.toString('utf8');
        const lines = text.split('\n');
        partial = lines.pop() ?? '';
        for (const l of lines) {
          into.push(l);
          ALL_PLUGIN_OUTPUT.push(l);
          captureOutput('plugin', l);
        }
      };
    };
    this.child.stdout?.on('data', collect(this.stdout));
    this.child.stderr?.on('data', collect(this.stderr));
    this.exited = new Promise((res) => this.child.once('exit', (code) => res(code)));
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  /** Parsed JSON log lines. */
  logs(): Record<string, unknown>[] {
    return this.stdout.flatMap((l) => {
      try {
        return [JSON.parse(l) as Record<string, unknown>];
      } catch {
        return [];
      }
    });
  }

  async waitForLog(pred: (l: Record<string, unknown>) => boolean, timeoutMs = 10_000): Promise<Record<string, unknown>> {
    const until = Date.now() + timeoutMs;
    for (;;) {
      const hit = this.logs().find(pred);
      if (hit) return hit;
      if (Date.now() > until) throw new Error(`log line not seen within ${timeoutMs}ms; got:\n${this.stdout.join('\n')}\n${this.stderr.join('\n')}`);
      await sleep(25);
    }
  }

  /** Port the health server bound (useful with -health-port=127.0.0.1:0). */
  async healthPort(): Promise<number> {
    const l = await this.waitForLog((x) => x.message === 'health endpoints listening');
    return l.port as number;
  }

  async waitForSocket(path: string, timeoutMs = 10_000): Promise<void> {
    const until = Date.now() + timeoutMs;
    while (!existsSync(path)) {
      if (Date.now() > until) throw new Error(`socket ${path} did not appear; output:\n${this.stdout.join('\n')}\n${this.stderr.join('\n')}`);
      await sleep(20);
    }
  }

  signal(sig: NodeJS.Signals): void {
    this.child.kill(sig);
  }

  /**
   * The exit code of a process expected to exit by itself. One still running after timeoutMs (a hang guard, not a
   * performance bound: generous on a loaded machine) is killed, and the wait fails with its output.
   */
  async exitCode(timeoutMs = 60_000): Promise<number | null> {
    let timer: NodeJS.Timeout | undefined;
    const hung = new Promise<'hung'>((res) => {
      timer = setTimeout(() => res('hung'), timeoutMs);
    });
    const outcome = await Promise.race([this.exited, hung]);
    clearTimeout(timer);
    if (outcome !== 'hung') return outcome;
    await this.stop();
    throw new Error(`the process did not exit within ${timeoutMs} ms (killed); output:\n${this.stdout.join('\n')}\n${this.stderr.join('\n')}`);
  }

  async stop(): Promise<number | null> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return this.child.exitCode;
    this.child.kill('SIGTERM');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 8000);
    const code = await this.exited;
    clearTimeout(timer);
    return code;
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

export async function eventually<T>(fn: () => Promise<T>, check: (v: T) => boolean, timeoutMs = 10_000, stepMs = 50): Promise<T> {
  const until = Date.now() + timeoutMs;
  let last: T | undefined;
  let lastErr: unknown;
  for (;;) {
    try {
      last = await fn();
      if (check(last)) return last;
    } catch (e) {
      lastErr = e;
    }
    if (Date.now() > until) throw new Error(`condition not met within ${timeoutMs}ms; last value ${JSON.stringify(last)}; last error ${String(lastErr)}`);
    await sleep(stepMs);
  }
}
