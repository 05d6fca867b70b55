import { join } from 'node:path';
import { processCpu, removeTempDir, sleep, tempDir } from './processes';
import { loadgen, RunningTarget, type LoadgenResult, type RssSample, type TargetKey } from './targets';
import type { VaultBackend } from './vault-backends';

/** Counts and durations of one benchmark configuration (full or --quick). */
export interface BenchConfig {
  readonly quick: boolean;
  readonly runs: number;
  readonly backends: readonly string[];
  readonly targets: readonly TargetKey[];
  /** Sequential calls per operation, after `warmup` untimed ones. */
  readonly latencyCalls: number;
  readonly warmup: number;
  readonly stormCalls: number;
  readonly stormCiphertexts: number;
  readonly stormInFlight: number;
  readonly sustainedSeconds: number;
  readonly sustainedInFlight: number;
  readonly sustainedCiphertexts: number;
  readonly startupRepeats: number;
  /** gRPC connections of the load generator (kube-apiserver: 1). */
  readonly conns: number;
}

export function benchConfig(quick: boolean, runs?: number): BenchConfig {
  return {
    quick,
    runs: runs ?? (quick ? 1 : 3),
    backends: ['openbao', 'vault', 'openbao-0ms', 'openbao-2ms'],
    targets: ['floor', 'node', 'artifact', 'go', 'transport'],
    latencyCalls: quick ? 200 : 400,
    warmup: quick ? 50 : 100,
    stormCalls: quick ? 2_000 : 10_000,
    stormCiphertexts: 50,
    stormInFlight: 200,
    sustainedSeconds: quick ? 3 : 5,
    sustainedInFlight: 64,
    sustainedCiphertexts: 1_000,
    startupRepeats: quick ? 2 : 3,
    conns: 1,
  };
}

export interface OpResult {
  p50Ms: number;
  p90Ms: number;
  p99Ms: number;
  errors: number;
  vaultRequests: number;
  vaultRequestsPerCall: number;
}

export interface StormResult {
  wallMs: number;
  p50Ms: number;
  p99Ms: number;
  errors: number;
  firstError?: string;
  vaultRequests: number;
  /** CPU time used during the storm, ms: the plugin process and the Vault server. */
  targetCpuMs?: number;
  vaultCpuMs: number;
}

export interface SustainedResult {
  opsPerSec: number;
  p99Ms: number;
  p99DecryptMs: number;
  p99EncryptMs: number;
  errors: number;
  vaultRequestsPerOp: number;
}

export interface SessionResult {
  run: number;
  backend: string;
  target: TargetKey;
  encrypt: OpResult;
  decrypt: OpResult;
  status: OpResult;
  stormV2: StormResult;
  stormV1: StormResult;
  sustained: SustainedResult;
  /** VmRSS 2 s after the first ok Status, MiB. */
  idleRssMb?: number;
  /** VmHWM at the end (the peak over every scenario, storms included), MiB. */
  peakRssMb?: number;
  rssSamples?: RssSample[];
  marks?: Array<{ tMs: number; label: string }>;
}

type Log = (msg: string) => void;

/**
 * One target against one Vault backend: the sequential latencies, both
 * storms and the sustained load, with Vault requests counted per step. Each
 * loadgen call is its own process, so setup work (encrypting the ciphertexts a
 * step decrypts) is never inside a counted or timed window.
 */
export async function runSession(target: TargetKey, vault: VaultBackend, run: number, cfg: BenchConfig, log: Log): Promise<SessionResult> {
  const dir = tempDir('kms-bench-data-');
  let running: RunningTarget | undefined;
  try {
    let targetArgs: string[];
    if (target === 'floor') {
      targetArgs = ['-floor-vault', vault.url, '-floor-token', vault.rootToken];
    } else {
      running = await RunningTarget.start(target, target === 'transport' ? undefined : vault);
      targetArgs = ['-socket', running.socket, '-conns', String(cfg.conns)];
    }
    let idleRssMb: number | undefined;
    if (running) {
      await sleep(2000);
      idleRssMb = running.sample()?.rssMb;
      running.mark('idle');
    }
    const file = (name: string) => join(dir, name);
    const counted = async (args: string[]): Promise<{ r: LoadgenResult; requests: number; cpuMs?: number; vaultCpuMs: number }> => {
      const before = await vault.requests();
      const cpu0 = running?.cpuMs();
      const vcpu0 = processCpu(vault.pid) * 10;
      const r = await loadgen([...args, ...targetArgs]);
      const cpu1 = running?.cpuMs();
      const vcpu1 = processCpu(vault.pid) * 10;
      const requests = (await vault.requests()) - before;
      return { r, requests, cpuMs: cpu0 !== undefined && cpu1 !== undefined ? cpu1 - cpu0 : undefined, vaultCpuMs: vcpu1 - vcpu0 };
    };
    const op = async (name: string, extra: string[]): Promise<OpResult> => {
      log(`    ${name} latency`);
      running?.mark(name);
      const { r, requests } = await counted(['latency', '-op', name, '-n', String(cfg.latencyCalls), '-warmup', String(cfg.warmup), ...extra]);
      const calls = cfg.latencyCalls + cfg.warmup;
      return { p50Ms: r.latency.p50Ms, p90Ms: r.latency.p90Ms, p99Ms: r.latency.p99Ms, errors: r.latency.errors, vaultRequests: requests, vaultRequestsPerCall: requests / calls };
    };
    const encrypt = await op('encrypt', ['-out', file('latency.jsonl')]);
    const decrypt = await op('decrypt', ['-in', file('latency.jsonl')]);
    const status = await op('status', []);

    const storm = async (api: 'v2' | 'v1', ciphertexts: number): Promise<StormResult> => {
      log(`    ${api} storm: preparing ${ciphertexts} ciphertexts`);
      await loadgen(['prepare', '-api', api, '-n', String(ciphertexts), '-concurrency', String(cfg.stormInFlight), '-out', file(`${api}.jsonl`), ...targetArgs]);
      await sleep(200);
      log(`    ${api} storm: ${cfg.stormCalls} Decrypts, ${cfg.stormInFlight} in flight`);
      running?.mark(`${api} storm`);
      const { r, requests, cpuMs, vaultCpuMs } = await counted(['storm', '-api', api, '-n', String(cfg.stormCalls), '-concurrency', String(cfg.stormInFlight), '-in', file(`${api}.jsonl`)]);
      return { wallMs: r.wallMs, p50Ms: r.latency.p50Ms, p99Ms: r.latency.p99Ms, errors: r.latency.errors, firstError: r.firstError, vaultRequests: requests, targetCpuMs: cpuMs, vaultCpuMs };
    };
    const stormV2 = await storm('v2', cfg.stormCiphertexts);
    const stormV1 = await storm('v1', cfg.stormCalls);

    log(`    sustained ${cfg.sustainedSeconds} s`);
    await loadgen(['prepare', '-api', 'v2', '-n', String(cfg.sustainedCiphertexts), '-concurrency', '64', '-out', file('sustained.jsonl'), ...targetArgs]);
    running?.mark('sustained');
    const s = await counted(['sustained', '-duration', `${cfg.sustainedSeconds}s`, '-concurrency', String(cfg.sustainedInFlight), '-in', file('sustained.jsonl')]);
    running?.mark('end');
    const ops = s.r.latency.count;
    const sustained: SustainedResult = {
      opsPerSec: s.r.opsPerSec ?? 0,
      p99Ms: s.r.latency.p99Ms,
      p99DecryptMs: s.r.byOp?.decrypt?.p99Ms ?? 0,
      p99EncryptMs: s.r.byOp?.encrypt?.p99Ms ?? 0,
      errors: s.r.latency.errors,
      vaultRequestsPerOp: ops > 0 ? s.requests / ops : 0,
    };
    const mem = running?.memory();
    return {
      run,
      backend: vault.key,
      target,
      encrypt,
      decrypt,
      status,
      stormV2,
      stormV1,
      sustained,
      idleRssMb,
      peakRssMb: mem?.hwmMb,
      rssSamples: running?.samples,
      marks: running?.marks,
    };
  } finally {
    await running?.stop();
    removeTempDir(dir);
  }
}
