import { median } from './load';
import { GO_MODEL_LABEL } from './processes';
import type { BenchConfig, ReferenceResult, TargetName, TargetResult } from './scenarios';

/**
 * Turns the raw per-run results into the markdown report: medians over runs,
 * one table per Vault latency (floor, this plugin and the Go plugin model side
 * by side, with ratios), and the issue's targets marked met or missed.
 */
export interface Machine {
  readonly date: string;
  readonly nproc: number;
  readonly cpuModel: string;
  readonly memoryGiB: number;
  readonly node: string;
  readonly go: string;
  readonly kernel: string;
}

export interface ReportInput {
  readonly cfg: BenchConfig;
  readonly machine: Machine;
  readonly results: readonly TargetResult[];
  readonly references: readonly ReferenceResult[];
  readonly pluginDescription: string;
  readonly goModelDescription: string;
  /** Why there is no Go-model column, if there is none. */
  readonly goModelUnavailable?: string;
  readonly wallSeconds: number;
  readonly rawFile: string;
}

type Better = 'lower' | 'higher' | 'none';

interface Row {
  readonly scenario: string;
  readonly metric: string;
  readonly unit: string;
  readonly digits: number;
  readonly better: Better;
  readonly get: (r: TargetResult) => number | undefined;
  /** Compare with the floor (time-like metrics only). */
  readonly vsFloor?: boolean;
}

function rows(cfg: BenchConfig): Row[] {
  const seq = `${cfg.seqCalls} calls after ${cfg.seqWarmup} warm-up, 1 in flight`;
  const lat = (scenario: string, pick: (r: TargetResult) => { p50: number; p99: number; vaultPerOp: number }): Row[] => [
    { scenario, metric: 'p50', unit: 'ms', digits: 3, better: 'lower', get: (r) => pick(r).p50, vsFloor: true },
    { scenario, metric: 'p99', unit: 'ms', digits: 3, better: 'lower', get: (r) => pick(r).p99, vsFloor: true },
    { scenario, metric: 'Vault requests / call', unit: '', digits: 2, better: 'lower', get: (r) => pick(r).vaultPerOp, vsFloor: true },
  ];
  const v2 = `v2 cold-start storm: ${fmtInt(cfg.v2StormTotal)} Decrypts over ${cfg.v2StormDistinct} ciphertexts, ${cfg.stormInFlight} in flight`;
  const v1 = `v1 storm: ${fmtInt(cfg.v1StormTotal)} distinct Decrypts, ${cfg.stormInFlight} in flight`;
  const sus = `Sustained mixed load ${cfg.sustainedMs / 1000} s: 90 % Decrypt (${fmtInt(cfg.sustainedPool)} ciphertexts), 9 % Encrypt, 1 % Status, ${cfg.sustainedInFlight} in flight`;
  return [
    ...lat(`Encrypt (v2), ${seq}`, (r) => r.seq.encrypt),
    ...lat(`Decrypt (v2), ${seq}`, (r) => r.seq.decrypt),
    ...lat(`Status (v2), ${seq}; floor: one key read`, (r) => r.seq.status),
    { scenario: v2, metric: 'wall time', unit: 'ms', digits: 0, better: 'lower', get: (r) => r.v2Storm.wallMs, vsFloor: true },
    { scenario: v2, metric: 'Vault requests', unit: '', digits: 0, better: 'lower', get: (r) => r.v2Storm.vaultRequests, vsFloor: true },
    { scenario: v2, metric: 'p99 per Decrypt', unit: 'ms', digits: 1, better: 'lower', get: (r) => r.v2Storm.p99, vsFloor: true },
    { scenario: v2, metric: 'KMS process CPU per Decrypt', unit: 'ms', digits: 3, better: 'lower', get: (r) => r.v2Storm.cpuPerOp.kms },
    { scenario: v2, metric: 'errors', unit: '', digits: 0, better: 'none', get: (r) => r.v2Storm.errors },
    { scenario: v1, metric: 'wall time', unit: 'ms', digits: 0, better: 'lower', get: (r) => r.v1Storm.wallMs, vsFloor: true },
    { scenario: v1, metric: 'Vault requests', unit: '', digits: 0, better: 'lower', get: (r) => r.v1Storm.vaultRequests, vsFloor: true },
    { scenario: v1, metric: 'p99 per Decrypt', unit: 'ms', digits: 1, better: 'lower', get: (r) => r.v1Storm.p99, vsFloor: true },
    { scenario: v1, metric: 'KMS process CPU per Decrypt', unit: 'ms', digits: 3, better: 'lower', get: (r) => r.v1Storm.cpuPerOp.kms },
    { scenario: v1, metric: 'errors', unit: '', digits: 0, better: 'none', get: (r) => r.v1Storm.errors },
    { scenario: sus, metric: 'throughput', unit: 'ops/s', digits: 0, better: 'higher', get: (r) => r.sustained.opsPerSec, vsFloor: true },
    { scenario: sus, metric: 'p99 (all)', unit: 'ms', digits: 2, better: 'lower', get: (r) => r.sustained.p99, vsFloor: true },
    { scenario: sus, metric: 'p99 Decrypt', unit: 'ms', digits: 2, better: 'lower', get: (r) => r.sustained.decryptP99, vsFloor: true },
    { scenario: sus, metric: 'p99 Encrypt', unit: 'ms', digits: 2, better: 'lower', get: (r) => r.sustained.encryptP99, vsFloor: true },
    { scenario: sus, metric: 'Vault requests / op', unit: '', digits: 3, better: 'lower', get: (r) => r.sustained.vaultPerOp, vsFloor: true },
    { scenario: sus, metric: 'CPU per op: KMS process', unit: 'ms', digits: 3, better: 'lower', get: (r) => r.sustained.cpuPerOp.kms },
    { scenario: sus, metric: 'CPU per op: Vault server', unit: 'ms', digits: 3, better: 'lower', get: (r) => r.sustained.cpuPerOp.vault, vsFloor: true },
    { scenario: sus, metric: 'CPU per op: load generator', unit: 'ms', digits: 3, better: 'none', get: (r) => r.sustained.cpuPerOp.client },
    { scenario: sus, metric: 'errors', unit: '', digits: 0, better: 'none', get: (r) => r.sustained.errors },
    { scenario: 'Memory (VmRSS / VmHWM of the KMS process)', metric: 'idle RSS 3 s after start-up + 1 health check', unit: 'MiB', digits: 1, better: 'lower', get: (r) => r.idleRssMb },
    { scenario: 'Memory (VmRSS / VmHWM of the KMS process)', metric: 'peak RSS over all scenarios', unit: 'MiB', digits: 1, better: 'lower', get: (r) => r.peakRssMb },
    { scenario: `Start-up: spawn → socket file exists (median of ${cfg.startupSamples})`, metric: 'time', unit: 'ms', digits: 0, better: 'lower', get: (r) => (r.startupMs ? median([...r.startupMs]) : undefined) },
  ];
}

/** Median over runs of one metric for one target at one latency. */
function med(results: readonly TargetResult[], target: TargetName, latency: number, get: (r: TargetResult) => number | undefined): number {
  const vals = results.filter((r) => r.target === target && r.latencyMs === latency).map(get).filter((v): v is number => v !== undefined && Number.isFinite(v));
  return median(vals);
}

function fmtInt(n: number): string {
  return Math.round(n).toLocaleString('en-US');
}

function fmt(v: number, digits: number, unit = ''): string {
  if (!Number.isFinite(v)) return '—';
  const s = digits === 0 ? fmtInt(v) : v.toFixed(digits);
  return unit ? `${s} ${unit}` : s;
}

/** "12.3× better" / "1.4× worse" from the plugin's point of view. */
function ratio(plugin: number, other: number, better: Better): string {
  if (better === 'none' || !Number.isFinite(plugin) || !Number.isFinite(other)) return '—';
  if (plugin === other) return 'same';
  if (better === 'lower') {
    if (plugin === 0) return `0 vs ${fmtNum(other)}`;
    if (other === 0) return `${fmtNum(plugin)} vs 0`;
    const q = other / plugin;
    return q >= 1 ? `**${fmtNum(q)}× better**` : `${fmtNum(1 / q)}× worse`;
  }
  if (other === 0) return '—';
  const q = plugin / other;
  return q >= 1 ? `**${fmtNum(q)}× better**` : `${fmtNum(1 / q)}× worse`;
}

function fmtNum(q: number): string {
  return q >= 100 ? q.toFixed(0) : q >= 10 ? q.toFixed(1) : q.toFixed(2);
}

function vsFloor(row: Row, plugin: number, floor: number): string {
  if (!row.vsFloor || !Number.isFinite(plugin) || !Number.isFinite(floor)) return '—';
  if (row.unit === 'ms') {
    const d = plugin - floor;
    return `${d >= 0 ? '+' : '−'}${Math.abs(d).toFixed(row.digits === 0 ? 0 : 3)} ms (${ratioPlain(plugin, floor)})`;
  }
  return ratioPlain(plugin, floor);
}

function ratioPlain(plugin: number, floor: number): string {
  if (floor === 0) return plugin === 0 ? '×1' : '—';
  return `×${fmtNum(plugin / floor)}`;
}

export interface TargetCheck {
  readonly target: string;
  readonly measured: string;
  readonly met: boolean | undefined;
  readonly bound?: string;
}

export function evaluateTargets(input: ReportInput): TargetCheck[] {
  const { results, cfg } = input;
  const lats = cfg.latencies;
  const m = (t: TargetName, l: number, get: (r: TargetResult) => number | undefined) => med(results, t, l, get);
  const both = (f: (l: number) => string) => lats.map((l) => `${f(l)} at ${l} ms`).join('; ');
  const hasGo = results.some((r) => r.target === 'go');
  const hasFloor = results.some((r) => r.target === 'floor');
  const hi = lats.includes(2) ? 2 : lats[lats.length - 1]!;
  const checks: TargetCheck[] = [];

  const statusP99 = lats.map((l) => m('plugin', l, (r) => r.seq.status.p99));
  const statusReq = lats.map((l) => m('plugin', l, (r) => r.seq.status.vaultPerOp));
  const statusSus = lats.map((l) => m('plugin', l, (r) => r.sustained.statusP99));
  checks.push({
    target: 'Status p99 under 1 ms with 0 Vault requests',
    measured: both((l) => `p99 ${fmt(m('plugin', l, (r) => r.seq.status.p99), 3)} ms, ${fmt(m('plugin', l, (r) => r.seq.status.vaultPerOp), 2)} Vault req/call`) +
      ` (under the sustained load: p99 ${statusSus.map((v) => fmt(v, 2)).join(' / ')} ms)`,
    met: statusP99.every((v) => v < 1) && statusReq.every((v) => v === 0),
  });

  if (hasFloor) {
    const deltas = lats.map((l) => m('plugin', l, (r) => r.seq.decrypt.p50) - m('floor', l, (r) => r.seq.decrypt.p50));
    checks.push({
      target: 'Decrypt p50 within 0.3 ms of the floor',
      measured: both((l) => `${fmt(m('plugin', l, (r) => r.seq.decrypt.p50), 3)} ms vs floor ${fmt(m('floor', l, (r) => r.seq.decrypt.p50), 3)} ms (+${fmt(deltas[lats.indexOf(l)]!, 3)} ms)`),
      met: deltas.every((d) => d <= 0.3),
    });
  }

  const v2Req = lats.map((l) => m('plugin', l, (r) => r.v2Storm.vaultRequests));
  checks.push({
    target: `v2 storm: Vault requests ≤ distinct ciphertexts (${cfg.v2StormDistinct})`,
    measured: both((l) => `${fmt(m('plugin', l, (r) => r.v2Storm.vaultRequests), 0)} requests`),
    met: v2Req.every((v) => v <= cfg.v2StormDistinct),
  });
  if (hasGo) {
    const v2x = m('go', hi, (r) => r.v2Storm.wallMs) / m('plugin', hi, (r) => r.v2Storm.wallMs);
    checks.push({
      target: `v2 storm wall time ≥10× better than the Go plugin model at ${hi} ms`,
      measured: `${fmt(m('plugin', hi, (r) => r.v2Storm.wallMs), 0)} ms vs ${fmt(m('go', hi, (r) => r.v2Storm.wallMs), 0)} ms = ${fmtNum(v2x)}×`,
      met: v2x >= 10,
    });
    const v1x = m('go', hi, (r) => r.v1Storm.wallMs) / m('plugin', hi, (r) => r.v1Storm.wallMs);
    checks.push({
      target: `v1 storm wall time ≥5× better than the Go plugin model at ${hi} ms`,
      measured: `${fmt(m('plugin', hi, (r) => r.v1Storm.wallMs), 0)} ms vs ${fmt(m('go', hi, (r) => r.v1Storm.wallMs), 0)} ms = ${fmtNum(v1x)}×`,
      met: v1x >= 5,
    });
  } else {
    checks.push({ target: 'v2 storm ≥10× / v1 storm ≥5× better than the Go plugin model', measured: 'no Go model results', met: undefined });
  }

  const idle = lats.map((l) => m('plugin', l, (r) => r.idleRssMb));
  checks.push({
    target: 'Idle RSS under 80 MB',
    measured: both((l) => `${fmt(m('plugin', l, (r) => r.idleRssMb), 1)} MiB = ${fmt(m('plugin', l, (r) => r.idleRssMb) * 1.048576, 1)} MB`),
    met: idle.every((v) => v * 1.048576 < 80),
  });
  const start = lats.map((l) => m('plugin', l, (r) => (r.startupMs ? median([...r.startupMs]) : undefined)));
  checks.push({ target: 'Start-up to a listening socket under 500 ms', measured: both((l) => `${fmt(m('plugin', l, (r) => (r.startupMs ? median([...r.startupMs]) : undefined)), 0)} ms`), met: start.every((v) => v < 500) });
  return checks;
}

function table(input: ReportInput, latency: number): string {
  const { results, cfg } = input;
  const hasGo = results.some((r) => r.target === 'go');
  const head = ['Scenario', 'Metric', 'Floor (direct HTTP)', 'This plugin', hasGo ? 'Go plugin model' : 'Go plugin model (not run)', 'plugin vs Go model', 'plugin vs floor'];
  const lines = [`| ${head.join(' | ')} |`, `|${head.map((_, i) => (i < 2 ? '---' : '---:')).join('|')}|`];
  let last = '';
  for (const row of rows(cfg)) {
    const f = med(results, 'floor', latency, row.get);
    const p = med(results, 'plugin', latency, row.get);
    const g = med(results, 'go', latency, row.get);
    const scenario = row.scenario === last ? '' : row.scenario;
    last = row.scenario;
    lines.push(`| ${scenario} | ${row.metric}${row.unit ? ` (${row.unit})` : ''} | ${fmt(f, row.digits)} | ${fmt(p, row.digits)} | ${fmt(g, row.digits)} | ${ratio(p, g, row.better)} | ${vsFloor(row, p, f)} |`);
  }
  return lines.join('\n');
}

/** Anything that went wrong in a run, so an error count never hides in a median. */
function problems(results: readonly TargetResult[]): string[] {
  const out: string[] = [];
  for (const r of results) {
    const parts: Array<[string, { errors: number; firstError?: string }]> = [
      ['sequential Encrypt', r.seq.encrypt],
      ['sequential Decrypt', r.seq.decrypt],
      ['sequential Status', r.seq.status],
      ['v2 storm', r.v2Storm],
      ['v1 storm', r.v1Storm],
      ['sustained', r.sustained],
    ];
    for (const [name, s] of parts) if (s.errors > 0) out.push(`run ${r.run + 1}, ${r.latencyMs} ms, ${r.target}, ${name}: ${s.errors} errors (first: ${s.firstError ?? '?'})`);
  }
  return out;
}

export function renderMarkdown(input: ReportInput, notes: string[]): string {
  const { cfg, machine } = input;
  const checks = evaluateTargets(input);
  const out: string[] = [];
  out.push('# Benchmarks');
  out.push('');
  out.push(
    `Generated by \`npm run bench${cfg.quick ? ' -- --quick' : ''}\` (\`node dist/bench/run.js\`) on ${machine.date}: ` +
      `${cfg.quick ? '**quick mode (smaller counts, 1 run; indicative only)**' : `median of **${cfg.runs} runs**`}, ` +
      `${Math.round(input.wallSeconds)} s in total. Raw numbers: \`${input.rawFile}\` (not committed).`,
  );
  out.push('');
  out.push('## Machine');
  out.push('');
  out.push(`- ${machine.nproc} CPUs (\`nproc\`): ${machine.cpuModel}; ${machine.memoryGiB.toFixed(1)} GiB RAM; Linux ${machine.kernel}`);
  out.push(`- Node.js ${machine.node}; ${machine.go}`);
  out.push('- Load generator, Vault test server and the KMS process under test all share these CPUs (the Vault server is a separate Node.js process; the load generator runs in the bench process).');
  const foreign = input.results.map((r) => r.foreignCpu).concat(input.references.map((r) => r.foreignCpu));
  if (foreign.length > 0) {
    const max = Math.max(...foreign);
    out.push(
      `- CPU used by processes the benchmark did not start, while it measured: median ${(median(foreign) * 100).toFixed(1)} %, max ${(max * 100).toFixed(1)} % of the machine` +
        (max > 0.1 ? ' (**the machine was not quiet for every measurement; treat the affected runs with care**)' : ' (quiet)') +
        `. Before each target the benchmark waits up to ${input.cfg.idleWaitMs / 1000} s for other processes to go below 15 %.`,
    );
  }
  out.push('');
  out.push('## What runs');
  out.push('');
  out.push('- **Floor**: the same Vault Transit operation sent directly over HTTP by the bench process (undici, keep-alive, one request per operation, no plugin). For Status the floor is one `GET transit/keys/kms`.');
  out.push(`- **This plugin**: ${input.pluginDescription}, flags \`-auth-method=token -socket=unix://… -health-port=127.0.0.1:0 -disable-v1=false -health-check-interval=60s\` (the 60 s interval only keeps the background check's 3 requests out of the per-call request counts).`);
  out.push(
    '- **Go plugin** `github.com/FalcoSuessgott/vault-kubernetes-kms`: it **cannot be built here**: the Go module proxy answers ' +
      '`403 Forbidden — This module version is not available` for every version of that module (checked for latest, v1.4.0, v1.3.0, v1.0.4, v1.0.0, v0.3.0 on 2026-11-28). ' +
      `As a clearly labelled stand-in the column **"Go plugin model"** is the **${GO_MODEL_LABEL}**: \`bench/go-upstream-model/\`, built with \`go build\` into \`bench/.bin/\`. ` +
      'It reproduces upstream v1.4.0\'s documented Vault request pattern and concurrency model: grpc-go server with no options; Encrypt = PUT encrypt + GET keys (2 Vault requests), ' +
      'Decrypt = PUT decrypt (1), Status = GET keys + PUT encrypt + GET keys + PUT decrypt (4); net/http with the go-cleanhttp pooled transport (MaxIdleConnsPerHost = GOMAXPROCS+1), ' +
      'X-Vault-Token, vault/api-style retries; zap Info logging per request (sampled 100/100) and Prometheus histograms as upstream. ' +
      (input.goModelUnavailable ? `**Not run this time: ${input.goModelUnavailable}**` : 'Binary: `bench/.bin/go-upstream-model`.'),
  );
  out.push(
    `- Vault: the repository's Vault-API-compatible test server (\`test/support/vault-server\`, real AES-256-GCM) in its own process, a fresh one per target and latency, ` +
      `with ${cfg.latencies.join(' ms and ')} ms added before every response. Request counts are deltas of its \`/_test/stats\` (every \`/v1\` request).`,
  );
  out.push(
    `- Load generator (identical for all three): a closed loop with a fixed number of operations in flight, in the bench process; gRPC over ${cfg.channels} separate HTTP/2 connections ` +
      'to the unix socket, round-robin, hand-written protobuf framing, 30 s deadline per call; every Decrypt result is compared with its plaintext. ' +
      `Each target gets a ${cfg.warmupMs / 1000} s warm-up of the mixed load first; targets run one after another (order rotated per run), never concurrently. ` +
      'Storm ciphertexts are fresh (never decrypted before the storm); the 10,000 v1 DEKs are encrypted through Vault before the timing.',
  );
  out.push('- Ratios: "plugin vs Go model" is Go÷plugin for times and requests, plugin÷Go for throughput ("better" = the plugin wins). "plugin vs floor" is the difference and plugin÷floor.');
  out.push('');
  for (const l of cfg.latencies) {
    out.push(`## Results with ${l} ms Vault latency`);
    out.push('');
    out.push(table(input, l));
    out.push('');
  }
  if (input.references.length > 0) {
    out.push('## Reference: one gRPC round trip on this machine');
    out.push('');
    out.push(`Sequential Status (${cfg.referenceCalls} calls after warm-up, same client and channels as above) against a server that answers a constant from memory: no Vault, no logging, no metrics. This is the lower bound of any KMS call here, and what "Status" costs at best. Start-up and RSS are the same baselines for a bare Node.js / Go process with only the gRPC library loaded.`);
    out.push('');
    out.push('| Constant-answer server | p50 (ms) | p99 (ms) | start-up to socket (ms) | RSS after 1 call (MiB) |');
    out.push('|---|---:|---:|---:|---:|');
    for (const [server, label] of [['grpc-js', 'grpc-js (Node.js; the library this plugin uses)'], ['grpc-go', 'grpc-go, `grpc.NewServer()` (the library the Go plugin uses)']] as const) {
      const rs = input.references.filter((r) => r.server === server);
      if (rs.length === 0) continue;
      const md = (k: 'p50' | 'p99' | 'startupMs' | 'idleRssMb') => median(rs.map((r) => r[k]));
      out.push(`| ${label} | ${fmt(md('p50'), 3)} | ${fmt(md('p99'), 3)} | ${fmt(md('startupMs'), 0)} | ${fmt(md('idleRssMb'), 1)} |`);
    }
    out.push('');
  }
  out.push('## Targets (from the issue; not loosened)');
  out.push('');
  out.push('| Target | Measured (this plugin, medians) | Result |');
  out.push('|---|---|---|');
  for (const c of checks) out.push(`| ${c.target} | ${c.measured} | ${c.met === undefined ? 'not measured' : c.met ? '**met**' : '**missed**'} |`);
  out.push('');
  const errs = problems(input.results);
  if (errs.length > 0) {
    out.push('## Errors seen');
    out.push('');
    for (const e of errs) out.push(`- ${e}`);
    out.push('');
  }
  if (notes.length > 0) {
    out.push('## Notes: where the plugin is bounded, and by what');
    out.push('');
    for (const n of notes) out.push(`- ${n}`);
    out.push('');
  }
  out.push('## Reproduce');
  out.push('');
  out.push('```sh');
  out.push('npm ci && npm run build:artifact   # optional: benchmark the packaged artifact instead of node dist/src/main.js');
  out.push(`npm run bench                      # full: 3 runs${cfg.quick ? '' : `, about ${Math.round((input.wallSeconds / cfg.runs) * 3 / 60)} minutes here`}; writes this file`);
  out.push('npm run bench -- --quick           # 1 run with smaller counts, 1-2 minutes; prints the table, does not touch this file');
  out.push('```');
  out.push('');
  return out.join('\n');
}

export function medianOf(results: readonly TargetResult[], target: TargetName, latency: number, get: (r: TargetResult) => number | undefined): number {
  return med(results, target, latency, get);
}
