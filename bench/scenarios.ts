import { randomBytes } from 'node:crypto';
import { FloorDriver, GrpcDriver, type Driver } from './drivers';
import { KmsLoadClient } from './kms-load-client';
import { closedLoop, prng, select, summarize, type LatencySummary, type LoopResult } from './load';
import { Child, ForeignCpuMeter, KmsProcess, echoCommand, goModelCommand, machineBusy, memoryOf, pluginCommand, processCpu, removeTempDir, sleep, startVaultServer, tempDir, type KmsKind, type VaultServerInfo } from './processes';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { VaultControl, VaultDirect } from './vault-direct';

export type TargetName = 'floor' | KmsKind;

export interface BenchConfig {
  readonly quick: boolean;
  readonly runs: number;
  readonly latencies: readonly number[];
  readonly targets: readonly TargetName[];
  readonly channels: number;
  readonly callTimeoutMs: number;
  readonly warmupMs: number;
  readonly seqWarmup: number;
  readonly seqCalls: number;
  readonly stormInFlight: number;
  readonly v2StormTotal: number;
  readonly v2StormDistinct: number;
  readonly v1StormTotal: number;
  readonly sustainedMs: number;
  readonly sustainedInFlight: number;
  readonly sustainedPool: number;
  readonly startupSamples: number;
  /** Before each target, wait up to this long for other processes to leave the CPUs alone. */
  readonly idleWaitMs: number;
  readonly referenceCalls: number;
}

export function benchConfig(quick: boolean, runs: number | undefined): BenchConfig {
  const base = {
    latencies: [0, 2],
    targets: ['floor', 'plugin', 'go'] as TargetName[],
    channels: 4,
    callTimeoutMs: 30_000,
    stormInFlight: 200,
    v2StormDistinct: 50,
    sustainedInFlight: 64,
    sustainedPool: 1000,
    idleWaitMs: 120_000,
  };
  return quick
    ? { ...base, quick, runs: runs ?? 1, warmupMs: 1000, seqWarmup: 20, seqCalls: 100, v2StormTotal: 2000, v1StormTotal: 2000, sustainedMs: 5000, startupSamples: 3, referenceCalls: 300 }
    : { ...base, quick, runs: runs ?? 3, warmupMs: 3000, seqWarmup: 50, seqCalls: 300, v2StormTotal: 10_000, v1StormTotal: 10_000, sustainedMs: 30_000, startupSamples: 5, referenceCalls: 1000 };
}

export interface SequentialResult extends LatencySummary {
  readonly errors: number;
  readonly firstError?: string;
  /** All /v1 requests Vault saw during the measured calls, divided by the number of calls. */
  readonly vaultPerOp: number;
  readonly vaultStats: Record<string, number>;
}

/** CPU time per operation in ms, by process (KMS process and Vault server from /proc jiffies, client from process.cpuUsage). */
export interface CpuPerOp {
  readonly kms?: number;
  readonly vault: number;
  readonly client: number;
}

export interface StormResult {
  readonly n: number;
  readonly distinct: number;
  readonly wallMs: number;
  readonly p50: number;
  readonly p99: number;
  readonly errors: number;
  readonly firstError?: string;
  /** All /v1 requests Vault saw during the storm. */
  readonly vaultRequests: number;
  readonly vaultStats: Record<string, number>;
  readonly cpuPerOp: CpuPerOp;
}

export interface SustainedResult {
  readonly durationMs: number;
  readonly n: number;
  readonly opsPerSec: number;
  readonly p50: number;
  readonly p99: number;
  readonly decryptP99: number;
  readonly encryptP99: number;
  readonly statusP99: number;
  readonly errors: number;
  readonly firstError?: string;
  readonly vaultPerOp: number;
  readonly vaultStats: Record<string, number>;
  readonly cpuPerOp: CpuPerOp;
}

export interface TargetResult {
  readonly target: TargetName;
  readonly run: number;
  readonly latencyMs: number;
  readonly startedAt: string;
  readonly seq: { readonly encrypt: SequentialResult; readonly decrypt: SequentialResult; readonly status: SequentialResult };
  readonly v2Storm: StormResult;
  readonly v1Storm: StormResult;
  readonly sustained: SustainedResult;
  /** MiB; undefined for the floor (no process of its own). */
  readonly idleRssMb?: number;
  /** Parts of idleRssMb: anonymous and file-backed (the mapped executable). */
  readonly idleAnonMb?: number;
  readonly idleFileMb?: number;
  readonly peakRssMb?: number;
  readonly startupMs?: readonly number[];
  /** Share (0..1) of the machine's CPU used by processes not started by the benchmark, warm-up to end of sustained load. */
  readonly foreignCpu: number;
  /** The same, sampled for 1 s just before the target started. */
  readonly foreignCpuBefore: number;
}

export interface ReferenceResult {
  readonly server: 'grpc-js' | 'grpc-go';
  readonly run: number;
  readonly p50: number;
  readonly p99: number;
  readonly n: number;
  readonly errors: number;
  readonly foreignCpu: number;
  /** Spawn → socket file exists. */
  readonly startupMs: number;
  /** VmRSS after connecting and one call. */
  readonly idleRssMb: number;
}

interface Pair {
  readonly pt: Buffer;
  readonly ct: Buffer;
}

interface Material {
  readonly seqDecrypt: Pair[];
  readonly v2Storm: Pair[];
  readonly v1Storm: Pair[];
  readonly pool: Pair[];
}

/** Fresh 32-byte DEKs encrypted straight through Vault (setup, never timed). */
async function prepareMaterial(direct: VaultDirect, cfg: BenchConfig): Promise<Material> {
  const sizes = [cfg.seqWarmup + cfg.seqCalls, cfg.v2StormDistinct, cfg.v1StormTotal, cfg.sustainedPool];
  const total = sizes.reduce((a, b) => a + b, 0);
  const pts = Array.from({ length: total }, () => randomBytes(32));
  const cts = await direct.encryptMany(pts);
  const pairs = pts.map((pt, i) => ({ pt, ct: Buffer.from(cts[i]!, 'latin1') }));
  let at = 0;
  const take = (n: number) => pairs.slice(at, (at += n));
  return { seqDecrypt: take(sizes[0]!), v2Storm: take(sizes[1]!), v1Storm: take(sizes[2]!), pool: take(sizes[3]!) };
}

/** Pids whose CPU time a scenario accounts for. */
interface CpuPids {
  readonly kms?: number;
  readonly vault: number;
}

const CLK_TCK_MS = 10; // USER_HZ = 100 on Linux

function cpuMeter(pids: CpuPids): (ops: number) => CpuPerOp {
  const k0 = pids.kms === undefined ? 0 : processCpu(pids.kms);
  const v0 = processCpu(pids.vault);
  const c0 = process.cpuUsage();
  return (ops) => {
    const c = process.cpuUsage(c0);
    const n = Math.max(1, ops);
    return {
      kms: pids.kms === undefined ? undefined : ((processCpu(pids.kms) - k0) * CLK_TCK_MS) / n,
      vault: ((processCpu(pids.vault) - v0) * CLK_TCK_MS) / n,
      client: (c.user + c.system) / 1000 / n,
    };
  };
}

function checkPlaintext(got: Buffer, want: Buffer): void {
  if (!want.equals(got)) throw new Error('Decrypt returned different bytes');
}

function checkCiphertext(ct: Buffer): void {
  if (ct.length < 10 || ct.subarray(0, 7).toString('latin1') !== 'vault:v') throw new Error('Encrypt returned an unexpected ciphertext');
}

async function sequential(control: VaultControl, warm: number, calls: number, op: (i: number) => Promise<unknown>): Promise<SequentialResult> {
  await closedLoop({ concurrency: 1, maxOps: warm, op });
  await sleep(100);
  await control.resetStats();
  const r = await closedLoop({ concurrency: 1, maxOps: calls, op: (i) => op(warm + i) });
  const vaultStats = await control.stats();
  return { ...summarize(r.latMs), errors: r.errors, firstError: r.firstError, vaultPerOp: (vaultStats.total ?? 0) / Math.max(1, r.count), vaultStats };
}

async function storm(control: VaultControl, cfg: BenchConfig, pids: CpuPids, total: number, pairs: Pair[], decrypt: (ct: Buffer) => Promise<Buffer>): Promise<StormResult> {
  await sleep(200);
  await control.resetStats();
  const cpu = cpuMeter(pids);
  const r = await closedLoop({
    concurrency: cfg.stormInFlight,
    maxOps: total,
    op: async (i) => {
      const p = pairs[i % pairs.length]!;
      checkPlaintext(await decrypt(p.ct), p.pt);
    },
  });
  const cpuPerOp = cpu(r.count);
  const vaultStats = await control.stats();
  const s = summarize(r.latMs);
  return { n: r.count, distinct: pairs.length, wallMs: r.wallMs, p50: s.p50, p99: s.p99, errors: r.errors, firstError: r.firstError, vaultRequests: vaultStats.total ?? 0, vaultStats, cpuPerOp };
}

const KIND_DECRYPT = 0;
const KIND_ENCRYPT = 1;
const KIND_STATUS = 2;
const SUSTAINED_MAX_OPS = 3_000_000;

/** 90 % Decrypt over the pool, 9 % Encrypt, 1 % Status, in a fixed pseudo-random order (same for every target). */
function mixedLoad(driver: Driver, pool: Pair[], inFlight: number, durationMs: number, seed: number): Promise<LoopResult> {
  const maxOps = Math.min(SUSTAINED_MAX_OPS, Math.ceil(durationMs * 100));
  const rnd = prng(seed);
  const kinds = new Uint8Array(maxOps);
  const picks = new Uint16Array(maxOps);
  for (let i = 0; i < maxOps; i++) {
    const r = rnd();
    kinds[i] = r < 0.9 ? KIND_DECRYPT : r < 0.99 ? KIND_ENCRYPT : KIND_STATUS;
    picks[i] = Math.floor(rnd() * pool.length);
  }
  return closedLoop({
    concurrency: inFlight,
    maxOps,
    durationMs,
    kindOf: (i) => kinds[i]!,
    op: async (i) => {
      const p = pool[picks[i]!]!;
      switch (kinds[i]) {
        case KIND_DECRYPT:
          checkPlaintext(await driver.decrypt(p.ct), p.pt);
          return;
        case KIND_ENCRYPT:
          checkCiphertext(await driver.encrypt(p.pt));
          return;
        default:
          await driver.status();
      }
    },
  });
}

async function sustained(driver: Driver, control: VaultControl, cfg: BenchConfig, pids: CpuPids, pool: Pair[]): Promise<SustainedResult> {
  await sleep(200);
  await control.resetStats();
  const cpu = cpuMeter(pids);
  const r = await mixedLoad(driver, pool, cfg.sustainedInFlight, cfg.sustainedMs, 0x5eed);
  const cpuPerOp = cpu(r.count);
  const vaultStats = await control.stats();
  const all = summarize(r.latMs);
  const p99Of = (k: number) => summarize(select(r.latMs, r.kinds, k)).p99;
  return {
    durationMs: r.wallMs,
    n: r.count,
    opsPerSec: (r.count - r.errors) / (r.wallMs / 1000),
    p50: all.p50,
    p99: all.p99,
    decryptP99: p99Of(KIND_DECRYPT),
    encryptP99: p99Of(KIND_ENCRYPT),
    statusP99: p99Of(KIND_STATUS),
    errors: r.errors,
    firstError: r.firstError,
    vaultPerOp: (vaultStats.total ?? 0) / Math.max(1, r.count),
    vaultStats,
    cpuPerOp,
  };
}

/** GET /health until it answers 200 (bounded). */
async function oneHealthCheck(port: number, timeoutMs = 20_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  let last = '';
  while (Date.now() < until) {
    try {
      const res = await fetch(`http://127.0.0.1:${port}/health`, { signal: AbortSignal.timeout(5000) });
      last = `HTTP ${res.status} ${(await res.text()).slice(0, 120)}`;
      if (res.status === 200) return;
    } catch (e) {
      last = (e as Error).message;
    }
    await sleep(20);
  }
  throw new Error(`/health never answered 200 within ${timeoutMs} ms (last: ${last})`);
}

async function untilStatusOk(driver: Driver, timeoutMs = 20_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    try {
      await driver.status();
      return;
    } catch (e) {
      if (Date.now() > until) throw new Error(`Status never became ok: ${(e as Error).message}`);
      await sleep(50);
    }
  }
}

/** Spawn → socket file exists, `samples` times, each process stopped before the next starts. */
async function startupTimes(kind: KmsKind, vault: VaultServerInfo, samples: number): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < samples; i++) {
    await sleep(300);
    const p = new KmsProcess(kind, kind === 'plugin' ? pluginCommand() : goModelCommand(), vault);
    try {
      out.push(await p.waitForSocket());
    } finally {
      await p.stop();
    }
  }
  return out;
}

export type Log = (msg: string) => void;

/** Waits (bounded) until processes outside the benchmark use under 15 % of the CPUs; returns the last sample. */
export async function waitForQuietMachine(cfg: BenchConfig, log: Log): Promise<number> {
  const until = Date.now() + cfg.idleWaitMs;
  let busy = await machineBusy(1000);
  let warned = false;
  while (busy > 0.15 && Date.now() < until) {
    if (!warned) log(`  other processes use ${(busy * 100).toFixed(0)} % of the CPUs; waiting up to ${cfg.idleWaitMs / 1000} s for a quiet machine`);
    warned = true;
    await sleep(4000);
    busy = await machineBusy(1000);
  }
  if (busy > 0.15) log(`  machine still busy (${(busy * 100).toFixed(0)} % by other processes); measuring anyway (recorded in the report)`);
  return busy;
}

/**
 * The cost of one gRPC round trip on this machine, without any plugin or Vault
 * work: sequential Status against a server answering a constant (grpc-js and
 * grpc-go), with the same client as every other scenario.
 */
export async function runReference(server: 'grpc-js' | 'grpc-go', run: number, cfg: BenchConfig): Promise<ReferenceResult> {
  const dir = tempDir('kms-bench-echo-');
  const socket = join(dir, 'echo.socket');
  const cmd = echoCommand(server);
  const spawned = process.hrtime.bigint();
  const child = new Child(cmd.cmd, [...cmd.prefix, socket]);
  const client = new KmsLoadClient(socket, cfg.channels, cfg.callTimeoutMs);
  try {
    const until = Date.now() + 10_000;
    while (!existsSync(socket)) {
      if (!child.running || Date.now() > until) throw new Error(`${server} reference server did not start:\n${child.output()}`);
      await sleep(1);
    }
    const startupMs = Number(process.hrtime.bigint() - spawned) / 1e6;
    await client.connect();
    await client.status();
    await sleep(250);
    const idleRssMb = memoryOf(child.pid).rssMb;
    const meter = new ForeignCpuMeter(() => [process.pid, child.pid]);
    const op = async () => {
      const s = await client.status();
      if (s.healthz !== 'ok') throw new Error('unexpected reference answer');
    };
    // Warm both ends (JIT of client and server) like the targets' warm-up, then the sequential calls.
    await closedLoop({ concurrency: cfg.sustainedInFlight, maxOps: 1_000_000, durationMs: cfg.warmupMs, op });
    await closedLoop({ concurrency: 1, maxOps: Math.max(100, cfg.referenceCalls / 2), op });
    const r = await closedLoop({ concurrency: 1, maxOps: cfg.referenceCalls, op });
    const s = summarize(r.latMs);
    return { server, run, p50: s.p50, p99: s.p99, n: s.n, errors: r.errors, foreignCpu: meter.foreignShare(), startupMs, idleRssMb };
  } finally {
    client.close();
    await child.stop();
    removeTempDir(dir);
  }
}

/**
 * One target at one Vault latency: a fresh Vault test server process, fresh
 * material, the target's own process (not for the floor), warm-up, then every
 * scenario in a fixed order. Everything started here is stopped here.
 */
export async function runTarget(target: TargetName, latencyMs: number, run: number, cfg: BenchConfig, log: Log): Promise<TargetResult> {
  const foreignCpuBefore = await waitForQuietMachine(cfg, log);
  const startedAt = new Date().toISOString();
  const vault = await startVaultServer(latencyMs);
  const control = new VaultControl(vault.info.url);
  const setup = new VaultDirect(vault.info.url, vault.info.kmsToken);
  let proc: KmsProcess | undefined;
  let driver: Driver | undefined;
  try {
    const material = await prepareMaterial(setup, cfg);
    let idleRssMb: number | undefined;
    let idleAnonMb: number | undefined;
    let idleFileMb: number | undefined;
    if (target === 'floor') {
      driver = new FloorDriver(new VaultDirect(vault.info.url, vault.info.kmsToken));
    } else {
      proc = new KmsProcess(target, target === 'plugin' ? pluginCommand() : goModelCommand(), vault.info);
      await proc.waitForSocket();
      const port = await proc.healthPort();
      await oneHealthCheck(port);
      // Idle means idle: 3 s after the first health check, past the start-up transient
      // (a young generation still full of start-up garbage 250 ms in reads ~8-12 MB higher).
      await sleep(3000);
      const mem = memoryOf(proc.pid);
      idleRssMb = mem.rssMb;
      idleAnonMb = mem.anonMb;
      idleFileMb = mem.fileMb;
      const client = new KmsLoadClient(proc.socketPath, cfg.channels, cfg.callTimeoutMs);
      driver = new GrpcDriver(client);
      await client.connect();
      await untilStatusOk(driver);
    }
    const d = driver;
    const running = proc;
    const meter = new ForeignCpuMeter(() => [process.pid, vault.child.pid, ...(running ? [running.pid] : [])]);
    log(`  warm-up ${cfg.warmupMs} ms`);
    await mixedLoad(d, material.pool, cfg.sustainedInFlight, cfg.warmupMs, 0xbeef);

    log('  sequential Encrypt / Decrypt / Status');
    const encrypt = await sequential(control, cfg.seqWarmup, cfg.seqCalls, async () => checkCiphertext(await d.encrypt(randomBytes(32))));
    const decrypt = await sequential(control, cfg.seqWarmup, cfg.seqCalls, async (i) => {
      const p = material.seqDecrypt[i]!;
      checkPlaintext(await d.decrypt(p.ct), p.pt);
    });
    const status = await sequential(control, cfg.seqWarmup, cfg.seqCalls, () => d.status());

    log(`  v2 storm: ${cfg.v2StormTotal} Decrypts over ${cfg.v2StormDistinct} ciphertexts, ${cfg.stormInFlight} in flight`);
    const pids: CpuPids = { kms: running?.pid, vault: vault.child.pid };
    const v2Storm = await storm(control, cfg, pids, cfg.v2StormTotal, material.v2Storm, (ct) => d.decrypt(ct));
    log(`  v1 storm: ${cfg.v1StormTotal} distinct Decrypts, ${cfg.stormInFlight} in flight`);
    const v1Storm = await storm(control, cfg, pids, cfg.v1StormTotal, material.v1Storm, (ct) => d.v1Decrypt(ct));
    log(`  sustained mixed load ${cfg.sustainedMs / 1000} s, ${cfg.sustainedInFlight} in flight`);
    const sus = await sustained(d, control, cfg, pids, material.pool);

    const foreignCpu = meter.foreignShare();
    const peakRssMb = proc ? memoryOf(proc.pid).hwmMb : undefined;
    d.close();
    driver = undefined;
    if (proc) {
      await proc.stop();
      proc = undefined;
    }
    let startupMs: number[] | undefined;
    if (target !== 'floor') {
      log(`  start-up to a listening socket x${cfg.startupSamples}`);
      startupMs = await startupTimes(target, vault.info, cfg.startupSamples);
    }
    return { target, run, latencyMs, startedAt, seq: { encrypt, decrypt, status }, v2Storm, v1Storm, sustained: sus, idleRssMb, idleAnonMb, idleFileMb, peakRssMb, startupMs, foreignCpu, foreignCpuBefore };
  } finally {
    driver?.close();
    await proc?.stop();
    await setup.close();
    await control.close();
    await vault.child.stop();
  }
}
