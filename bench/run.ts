/**
 * `npm run bench` = node dist/bench/run.js [--runs N] [--quick] [--docs|--no-docs]
 *   [--backends openbao,vault,openbao-0ms,openbao-2ms] [--targets floor,node,artifact,go,transport]
 *   [--conns N] [--render bench/results/FILE.json]
 *
 * Builds the Go load generator, then for every run and Vault backend drives
 * each target (this plugin as compiled CLI and as packaged artifact, the real
 * Go plugin, the floor, the transport limit) one after another, in an order
 * rotated per run. Writes the raw numbers to bench/results/, the tables into
 * docs/benchmarks.md (between its generated-section markers) and the charts to
 * docs/bench-*.svg. Progress goes to stderr.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus, release, totalmem } from 'node:os';
import { join, relative } from 'node:path';
import { ForeignCpuMeter, goVersion, installCleanupHandlers, killAllChildren, REPO_ROOT } from './processes';
import { benchConfig, runSession, type BenchConfig, type SessionResult } from './scenarios';
import { artifactBuiltAt, buildLoadgen, checkTargetAvailable, startupMs, TARGET_LABEL, type TargetKey } from './targets';
import { startBackend } from './vault-backends';
import { renderReport, writeDocs, type BenchResults } from './report';

interface Cli {
  runs?: number;
  quick: boolean;
  docs?: boolean;
  backends?: string[];
  targets?: TargetKey[];
  conns?: number;
  render?: string;
}

const USAGE =
  'usage: node dist/bench/run.js [--runs N] [--quick] [--docs|--no-docs] [--backends openbao,vault,openbao-0ms,openbao-2ms] [--targets floor,node,artifact,go,transport] [--conns N] [--render bench/results/FILE.json]';
const ALL_TARGETS: readonly TargetKey[] = ['floor', 'node', 'artifact', 'go', 'transport'];

function parseCli(argv: readonly string[]): Cli {
  const cli: Cli = { quick: false };
  for (let i = 0; i < argv.length; i++) {
    const [name, inline] = argv[i]!.split('=', 2) as [string, string | undefined];
    const value = () => inline ?? argv[++i] ?? '';
    switch (name) {
      case '--runs': {
        const n = Number(value());
        if (!Number.isInteger(n) || n < 1 || n > 20) throw new Error('--runs needs an integer from 1 to 20');
        cli.runs = n;
        break;
      }
      case '--quick':
        cli.quick = true;
        break;
      case '--docs':
        cli.docs = true;
        break;
      case '--no-docs':
        cli.docs = false;
        break;
      case '--backends': {
        const b = value().split(',').filter(Boolean);
        if (b.length === 0 || b.some((x) => !/^(openbao|vault|openbao-\d+ms)$/.test(x))) throw new Error('--backends takes openbao, vault and openbao-<N>ms, e.g. openbao,vault,openbao-0ms,openbao-2ms');
        cli.backends = b;
        break;
      }
      case '--targets': {
        const t = value().split(',').filter(Boolean);
        if (t.length === 0 || t.some((x) => !ALL_TARGETS.includes(x as TargetKey))) throw new Error(`--targets takes ${ALL_TARGETS.join(',')}`);
        cli.targets = t as TargetKey[];
        break;
      }
      case '--conns': {
        const n = Number(value());
        if (!Number.isInteger(n) || n < 1 || n > 64) throw new Error('--conns needs an integer from 1 to 64');
        cli.conns = n;
        break;
      }
      case '--render':
        cli.render = value();
        if (!cli.render) throw new Error('--render needs a results file');
        break;
      case '--help':
      case '-h':
        process.stdout.write(`${USAGE}\n`);
        process.exit(0);
        break;
      default:
        throw new Error(`unknown argument ${argv[i]}\n${USAGE}`);
    }
  }
  return cli;
}

const log = (msg: string) => process.stderr.write(`[bench] ${msg}\n`);

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

function renderCharts(rawFile: string): void {
  const res = spawnSync(process.execPath, [join(REPO_ROOT, 'bench/charts.mjs'), rawFile, join(REPO_ROOT, 'docs')], { encoding: 'utf8', timeout: 120_000 });
  if (res.status !== 0) throw new Error(`bench/charts.mjs failed: ${res.stderr || res.stdout}`);
  log(res.stdout.trim());
}

async function main(): Promise<void> {
  installCleanupHandlers();
  const cli = parseCli(process.argv.slice(2));
  if (cli.render) {
    const input = JSON.parse(readFileSync(cli.render, 'utf8')) as BenchResults;
    process.stdout.write(renderReport(input));
    if (cli.docs ?? !input.cfg.quick) {
      writeDocs(input);
      renderCharts(cli.render);
      log('wrote docs/benchmarks.md and docs/bench-*.svg');
    }
    return;
  }
  const base = benchConfig(cli.quick, cli.runs);
  const cfg: BenchConfig = { ...base, backends: cli.backends ?? base.backends, targets: cli.targets ?? base.targets, conns: cli.conns ?? base.conns };
  const skipped: Record<string, string> = {};
  const targets = cfg.targets.filter((t) => {
    const why = checkTargetAvailable(t);
    if (why) {
      skipped[t] = why;
      log(`skipping ${TARGET_LABEL[t]}: ${why}`);
    }
    return !why;
  });
  log('building the load generator (go build bench/loadgen → bench/.bin/loadgen)');
  buildLoadgen();
  const started = Date.now();
  const sessions: SessionResult[] = [];
  const startup: Record<string, number[]> = {};
  const startupSocket: Record<string, number[]> = {};
  const foreign: number[] = [];
  const ownPids = new Set<number>([process.pid]);

  for (let run = 0; run < cfg.runs; run++) {
    for (const backendKey of cfg.backends) {
      log(`run ${run + 1}/${cfg.runs}: starting ${backendKey}`);
      const vault = await startBackend(backendKey);
      try {
        // The transport limit needs no Vault: measured once per run, beside OpenBao (the first backend).
        // The artifact runs the same code as node dist: it is measured there too (RSS, start-up), not
        // again against every other backend.
        const here = targets.filter((t) => (t !== 'transport' && t !== 'artifact') || backendKey === cfg.backends[0]);
        const order = here.map((_, i) => here[(i + run) % here.length]!);
        for (const target of order) {
          log(`run ${run + 1}/${cfg.runs}, ${backendKey}, ${TARGET_LABEL[target]}`);
          const meter = new ForeignCpuMeter(() => [...ownPids, vault.pid]);
          sessions.push(await runSession(target, vault, run, cfg, log));
          foreign.push(meter.foreignShare());
        }
        if (backendKey === cfg.backends[0]) {
          for (const target of targets) {
            if (target === 'floor') continue;
            for (let i = 0; i < cfg.startupRepeats; i++) {
              const s = await startupMs(target, target === 'transport' ? undefined : vault);
              (startup[target] ??= []).push(s.okMs);
              (startupSocket[target] ??= []).push(s.socketMs);
            }
          }
          log(`start-up to first ok Status (ms): ${Object.entries(startup).map(([k, v]) => `${k} ${median(v).toFixed(0)}`).join(', ')}`);
        }
      } finally {
        await vault.stop();
      }
    }
  }

  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  const rawDir = join(REPO_ROOT, 'bench/results');
  mkdirSync(rawDir, { recursive: true });
  const rawFile = join(rawDir, `bench-${cfg.quick ? 'quick-' : ''}${stamp}.json`);
  const input: BenchResults = {
    cfg,
    machine: {
      date: new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
      nproc: availableParallelism(),
      cpuModel: cpus()[0]?.model.trim() ?? 'unknown CPU',
      memoryGiB: totalmem() / 1024 ** 3,
      node: process.version,
      go: goVersion(),
      kernel: release(),
      foreignCpuMedian: median(foreign),
      foreignCpuMax: Math.max(...foreign),
    },
    artifactBuiltAt: artifactBuiltAt(),
    skipped,
    sessions,
    startupMs: startup,
    startupSocketMs: startupSocket,
    wallSeconds: (Date.now() - started) / 1000,
    rawFile: relative(REPO_ROOT, rawFile),
  };
  writeFileSync(rawFile, JSON.stringify(input));
  process.stdout.write(renderReport(input));
  if (cli.docs ?? !cfg.quick) {
    writeDocs(input);
    renderCharts(rawFile);
    log('wrote docs/benchmarks.md and docs/bench-*.svg');
  } else {
    log('docs/benchmarks.md left unchanged (quick mode; pass --docs to write it)');
  }
  log(`raw results: ${relative(REPO_ROOT, rawFile)}`);
}

main().then(
  () => {
    killAllChildren();
    process.exit(0);
  },
  (e: Error) => {
    process.stderr.write(`[bench] failed: ${e.stack ?? e.message}\n`);
    killAllChildren();
    process.exit(1);
  },
);
