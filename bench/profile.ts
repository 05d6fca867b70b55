/**
 * `node dist/bench/profile.js [--calls N] [--interval-us U] [--keep DIR] [--mode cpu|wall] [--analyse DIR]`
 *
 * Where a call's time goes inside the plugin process: runs `node --cpu-prof`
 * on this plugin (dist/src/main.js, against a real OpenBao) and on the bare
 * grpc-js transport-limit server, drives N sequential Status, Encrypt and
 * Decrypt calls per profiled process with the Go load generator, and prints
 * per operation the CPU microseconds per call by component (grpc-js,
 * protobufjs, undici, winston, prom-client, zod, each of our source files,
 * Node.js internals, GC) and the costliest functions, next to the same for the
 * transport limit. One process per operation, so each profile holds one kind
 * of call; only the samples of the measured calls count (not start-up, not
 * warm-up). --mode cpu (default) counts samples × interval, an estimate of
 * CPU time; --mode wall weights each sample by the time to the next one,
 * which adds the time the thread sat preempted (on a busy 2-CPU machine,
 * mostly right after writing to Vault's socket). --analyse DIR re-reads the
 * profiles a --keep run left, without measuring.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { Child, installCleanupHandlers, killAllChildren, REPO_ROOT, sleep, tempDir } from './processes';
import { buildLoadgen, loadgen, NODE_MAIN, pluginArgs } from './targets';
import { freePort, startOpenBao, type VaultBackend } from './vault-backends';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
  children?: number[];
}
interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
  /** Only samples taken in this interval (µs, monotonic) count. */
  window?: { from: number; to: number };
}

type Op = 'status' | 'encrypt' | 'decrypt';
type Who = 'ours' | 'transport';

function component(url: string, fn: string): string {
  if (!url) return fn.startsWith('(') ? fn : `(native) ${fn || 'anonymous'}`;
  const nm = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (nm) return nm[1]!;
  if (url.startsWith('node:')) return `node:${url.slice(5).split('/').slice(0, 3).join('/')}`;
  if (url.includes('/dist/')) return url.slice(url.indexOf('/dist/') + 6).replace(/\.js$/, '.ts');
  return url;
}

/** The concern a component belongs to: what a refactor would have to touch. */
function concern(c: string): string {
  if (c === 'undici' || c === '(native) writev' || c === 'node:net' || c.startsWith('wasm://') || c === 'src/adapters/vault/vault-http-client.ts') return 'Vault HTTP client (undici, socket write, llhttp)';
  if (c === 'node:internal/abort_controller' || c === 'node:internal/event_target' || c === 'node:internal/timers' || c === 'node:timers') return 'AbortController/AbortSignal, listeners, timers';
  if (c === 'prom-client' || c.startsWith('src/adapters/metrics/')) return 'metrics (prom-client)';
  if (['winston', 'logform', 'triple-beam', 'winston-transport', 'readable-stream', '@colors/colors', 'safe-stable-stringify', 'fecha'].includes(c) || c.startsWith('src/adapters/logging/')) return 'logging (winston)';
  if (c === 'zod' || c === 'src/adapters/vault/schemas.ts') return 'response validation (zod)';
  if (c.startsWith('src/')) return 'our code: ' + (c.startsWith('src/domain/') ? 'domain' : c.split('/').slice(0, 3).join('/'));
  if (c === '@grpc/grpc-js' || c.startsWith('node:internal/http2')) return 'gRPC + HTTP/2 (grpc-js, node:http2)';
  if (c === 'protobufjs' || /\$(en|de)code/.test(c)) return 'protobuf (protobufjs)';
  if (c === '(garbage collector)') return 'garbage collector';
  if (c === '(native) runMicrotasks' || c === 'node:internal/process/task_queues') return 'promise/microtask machinery';
  return 'other Node.js internals (streams, events, buffers)';
}

/** Self time (µs) per component and per function, from a .cpuprofile. */
function analyse(p: CpuProfile): { totalUs: number; byComponent: Map<string, number>; byFunction: Map<string, number> } {
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const selfUs = new Map<number, number>();
  let t = p.startTime;
  for (let i = 0; i < p.samples.length; i++) {
    t += p.timeDeltas[i] ?? 0;
    if (p.window && (t < p.window.from || t > p.window.to)) continue;
    // CPU mode: every sample is one interval of running code (a thread that was off the CPU
    // is sampled once when it runs again). Wall mode: the time until the next sample, which
    // also holds the time the thread spent preempted inside that function.
    selfUs.set(p.samples[i]!, (selfUs.get(p.samples[i]!) ?? 0) + (MODE === 'wall' ? (p.timeDeltas[i + 1] ?? 0) : Number(INTERVAL)));
  }
  const byComponent = new Map<string, number>();
  const byFunction = new Map<string, number>();
  let totalUs = 0;
  for (const [id, us] of selfUs) {
    const n = byId.get(id)!;
    const { functionName, url, lineNumber } = n.callFrame;
    if (functionName === '(idle)' || functionName === '(program)') continue;
    totalUs += us;
    const c = component(url, functionName);
    byComponent.set(c, (byComponent.get(c) ?? 0) + us);
    const f = `${functionName || '(anonymous)'} ${url ? `${component(url, '')}:${lineNumber + 1}` : ''}`.trim();
    byFunction.set(f, (byFunction.get(f) ?? 0) + us);
  }
  return { totalUs, byComponent, byFunction };
}

const args = process.argv.slice(2);
const opt = (name: string, def: string) => {
  const i = args.indexOf(name);
  return i >= 0 && args[i + 1] ? args[i + 1]! : def;
};
const CALLS = Number(opt('--calls', '3000'));
const WARMUP = 300;
const INTERVAL = opt('--interval-us', '100');
const KEEP = opt('--keep', '');
const MODE = opt('--mode', 'cpu');
const REANALYSE = opt('--analyse', '');

function loadKept(dir: string, who: Who, op: Op): CpuProfile {
  const profDir = join(dir, `${who}-${op}`);
  const file = readdirSync(profDir).find((f) => f.endsWith('.cpuprofile'));
  if (!file) throw new Error(`no profile in ${profDir}`);
  const profile = JSON.parse(readFileSync(join(profDir, file), 'utf8')) as CpuProfile;
  const window = JSON.parse(readFileSync(join(profDir, 'window.json'), 'utf8')) as { from: number; to: number };
  return { ...profile, window };
}

async function profiled(who: Who, op: Op, vault: VaultBackend | undefined, dir: string): Promise<CpuProfile> {
  if (!vault) return loadKept(dir, who, op);
  const profDir = join(dir, `${who}-${op}`);
  mkdirSync(profDir, { recursive: true });
  const socket = join(dir, `${who}-${op}.socket`);
  const prepSocket = join(dir, `${who}-${op}-prep.socket`);
  const nodeFlags = ['--cpu-prof', `--cpu-prof-dir=${profDir}`, `--cpu-prof-interval=${INTERVAL}`];
  const command = async (s: string, profile: boolean): Promise<string[]> =>
    who === 'ours'
      ? [...(profile ? nodeFlags : []), NODE_MAIN, ...pluginArgs('ours', vault, s, await freePort())]
      : [...(profile ? nodeFlags : []), join(REPO_ROOT, 'dist/bench/transport-limit-server.js'), s];
  const start = async (s: string, profile: boolean): Promise<Child> => {
    const c = new Child(process.execPath, await command(s, profile));
    const until = Date.now() + 30_000;
    for (;;) {
      if (existsSync(s)) {
        const r = await loadgen(['latency', '-socket', s, '-op', 'status', '-n', '1', '-warmup', '0', '-deadline', '2s']).catch(() => undefined);
        if (r && r.latency.errors === 0) return c;
      }
      if (!c.running || Date.now() > until) throw new Error(`${who} did not start:\n${c.output()}`);
      await sleep(50);
    }
  };
  const file = join(dir, `${who}-${op}.jsonl`);
  if (op === 'decrypt') {
    // Ciphertexts from an unprofiled instance of the same target, so the profile holds Decrypts only.
    const prep = await start(prepSocket, false);
    await loadgen(['latency', '-socket', prepSocket, '-op', 'encrypt', '-n', String(CALLS), '-warmup', String(WARMUP), '-out', file]);
    await prep.stop();
  }
  const child = await start(socket, true);
  // Warm-up in its own invocation; only the measured invocation's time window is analysed
  // (process.hrtime and V8's profile timestamps are both CLOCK_MONOTONIC microseconds).
  await loadgen(['latency', '-socket', socket, '-op', op, '-n', String(WARMUP), '-warmup', '0', ...(op === 'decrypt' ? ['-in', file] : [])]);
  const from = Number(process.hrtime.bigint() / 1000n);
  await loadgen(['latency', '-socket', socket, '-op', op, '-n', String(CALLS), '-warmup', '0', ...(op === 'decrypt' ? ['-in', file, '-skip', String(WARMUP)] : [])]);
  const to = Number(process.hrtime.bigint() / 1000n);
  await child.stop(10_000);
  const files = readdirSync(profDir).filter((f) => f.endsWith('.cpuprofile'));
  if (files.length === 0) throw new Error(`${who} ${op}: no .cpuprofile written (the process must exit through process.exit, not a signal)`);
  const profile = JSON.parse(readFileSync(join(profDir, files[0]!), 'utf8')) as CpuProfile;
  writeFileSync(join(profDir, 'window.json'), JSON.stringify({ from, to }));
  return { ...profile, window: { from, to } };
}

const us = (v: number) => v.toFixed(1).padStart(7);

async function main(): Promise<void> {
  installCleanupHandlers();
  const dir = REANALYSE ? resolve(REANALYSE) : KEEP ? resolve(KEEP) : tempDir('kms-bench-profile-');
  mkdirSync(dir, { recursive: true });
  if (!REANALYSE) buildLoadgen();
  const vault = REANALYSE ? undefined : await startOpenBao();
  try {
    for (const op of ['status', 'encrypt', 'decrypt'] as const) {
      const calls = CALLS;
      const ours = analyse(await profiled('ours', op, vault, dir));
      const bare = analyse(await profiled('transport', op, vault, dir));
      process.stdout.write(`\n## ${op}: CPU µs per call inside the server process (${calls} sequential calls after ${WARMUP} warm-up ones, sampled every ${INTERVAL} µs, ${MODE === 'wall' ? 'elapsed time incl. preemption' : 'CPU: samples × interval'})\n\n`);
      process.stdout.write(`total: ours ${us(ours.totalUs / calls)}   transport limit ${us(bare.totalUs / calls)}\n\n`);
      const byConcern = (m: Map<string, number>) => {
        const out = new Map<string, number>();
        for (const [c, v] of m) out.set(concern(c), (out.get(concern(c)) ?? 0) + v);
        return out;
      };
      const oc = byConcern(ours.byComponent);
      const bc = byConcern(bare.byComponent);
      process.stdout.write('| concern | ours µs/call | transport limit µs/call | difference |\n|---|---:|---:|---:|\n');
      for (const c of [...new Set([...oc.keys(), ...bc.keys()])].sort((a, b) => (oc.get(b) ?? 0) - (bc.get(b) ?? 0) - ((oc.get(a) ?? 0) - (bc.get(a) ?? 0)))) {
        process.stdout.write(`| ${c} | ${us((oc.get(c) ?? 0) / calls)} | ${us((bc.get(c) ?? 0) / calls)} | ${us(((oc.get(c) ?? 0) - (bc.get(c) ?? 0)) / calls)} |\n`);
      }
      process.stdout.write('\n| component | ours µs/call | transport limit µs/call |\n|---|---:|---:|\n');
      const comps = [...new Set([...ours.byComponent.keys(), ...bare.byComponent.keys()])].sort((a, b) => (ours.byComponent.get(b) ?? 0) - (ours.byComponent.get(a) ?? 0));
      for (const c of comps.slice(0, 25)) process.stdout.write(`| ${c} | ${us((ours.byComponent.get(c) ?? 0) / calls)} | ${us((bare.byComponent.get(c) ?? 0) / calls)} |\n`);
      process.stdout.write('\nCostliest functions (self time), ours:\n\n| function | µs/call |\n|---|---:|\n');
      for (const [f, v] of [...ours.byFunction].sort((a, b) => b[1] - a[1]).slice(0, 25)) process.stdout.write(`| \`${f}\` | ${us(v / calls)} |\n`);
    }
    if (KEEP) process.stdout.write(`\nprofiles kept in ${relative(process.cwd(), dir)} (open them in Chrome DevTools or speedscope for flame graphs)\n`);
  } finally {
    await vault?.stop();
  }
}

main().then(
  () => {
    killAllChildren();
    process.exit(0);
  },
  (e: Error) => {
    process.stderr.write(`[profile] failed: ${e.stack ?? e.message}\n`);
    killAllChildren();
    process.exit(1);
  },
);
