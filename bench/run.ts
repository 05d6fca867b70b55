/**
 * `npm run bench` = node dist/bench/run.js [--runs N] [--quick] [--docs|--no-docs]
 *                   [--targets floor,plugin,go] [--latencies 0,2]
 *
 * Drives this plugin over its real unix socket, the Go plugin model and the
 * direct-HTTP floor against the Vault test server, one after another, and
 * prints a markdown table (stdout) that also goes to docs/benchmarks.md
 * (full runs; --quick only with --docs). Progress goes to stderr; raw JSON to
 * bench/results/.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, release, totalmem, availableParallelism } from 'node:os';
import { join, relative } from 'node:path';
import { buildGoEcho, buildGoModel, choosePlugin, goModelCommand, goVersion, installCleanupHandlers, killAllChildren, pluginCommand, REPO_ROOT, type PluginChoice } from './processes';
import { benchConfig, runReference, runTarget, waitForQuietMachine, type BenchConfig, type ReferenceResult, type TargetName, type TargetResult } from './scenarios';
import { renderMarkdown, type Machine, type ReportInput } from './report';
import { notesFor } from './notes';

interface Cli {
  runs?: number;
  quick: boolean;
  docs?: boolean;
  targets?: TargetName[];
  latencies?: number[];
  plugin?: PluginChoice;
  idleWaitSeconds?: number;
  /** Re-render the markdown from a raw results file instead of measuring. */
  render?: string;
}

const USAGE =
  'usage: node dist/bench/run.js [--runs N] [--quick] [--docs|--no-docs] [--targets floor,plugin,go] [--latencies 0,2] [--plugin auto|artifact|node] [--idle-wait SECONDS] [--render bench/results/<file>.json]';

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
      case '--targets': {
        const t = value().split(',').filter(Boolean);
        if (t.length === 0 || t.some((x) => !['floor', 'plugin', 'go'].includes(x))) throw new Error('--targets takes floor,plugin,go');
        cli.targets = t as TargetName[];
        break;
      }
      case '--latencies': {
        const l = value().split(',').filter(Boolean).map(Number);
        if (l.length === 0 || l.some((x) => !Number.isInteger(x) || x < 0 || x > 1000)) throw new Error('--latencies takes integers in ms, e.g. 0,2');
        cli.latencies = l;
        break;
      }
      case '--plugin': {
        const v = value();
        if (!['auto', 'artifact', 'node'].includes(v)) throw new Error('--plugin takes auto, artifact or node');
        cli.plugin = v as PluginChoice;
        break;
      }
      case '--idle-wait': {
        const n = Number(value());
        if (!Number.isFinite(n) || n < 0 || n > 3600) throw new Error('--idle-wait takes seconds from 0 to 3600');
        cli.idleWaitSeconds = n;
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

function machine(): Machine {
  return {
    date: new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
    nproc: typeof availableParallelism === 'function' ? availableParallelism() : cpus().length,
    cpuModel: cpus()[0]?.model.trim() ?? 'unknown CPU',
    memoryGiB: totalmem() / 1024 ** 3,
    node: process.version,
    go: goVersion(),
    kernel: release(),
  };
}

const log = (msg: string) => process.stderr.write(`[bench] ${msg}\n`);

async function main(): Promise<void> {
  installCleanupHandlers();
  const cli = parseCli(process.argv.slice(2));
  if (cli.render) {
    // No measurement: the same markdown again from saved numbers (e.g. after a wording change).
    const input = JSON.parse(readFileSync(cli.render, 'utf8')) as ReportInput;
    const markdown = renderMarkdown(input, notesFor(input));
    process.stdout.write(markdown);
    if (cli.docs ?? !input.cfg.quick) {
      writeFileSync(join(REPO_ROOT, 'docs/benchmarks.md'), markdown);
      log('wrote docs/benchmarks.md');
    }
    return;
  }
  const base = benchConfig(cli.quick, cli.runs);
  let cfg: BenchConfig = {
    ...base,
    targets: cli.targets ?? base.targets,
    latencies: cli.latencies ?? base.latencies,
    idleWaitMs: cli.idleWaitSeconds !== undefined ? cli.idleWaitSeconds * 1000 : base.idleWaitMs,
  };
  choosePlugin(cli.plugin ?? 'auto');
  const writeDocs = cli.docs ?? !cli.quick;
  const started = Date.now();

  let goModelUnavailable: string | undefined;
  if (cfg.targets.includes('go')) {
    log('building the Go plugin model (go build bench/go-upstream-model → bench/.bin/)');
    goModelUnavailable = buildGoModel();
    if (goModelUnavailable) {
      log(`Go plugin model unavailable: ${goModelUnavailable}`);
      cfg = { ...cfg, targets: cfg.targets.filter((t) => t !== 'go') };
    }
  }
  const plugin = pluginCommand();
  log(`this plugin: ${plugin.description}`);
  const echoBuildError = buildGoEcho();
  if (echoBuildError) log(`grpc-go reference server unavailable: ${echoBuildError}`);

  const results: TargetResult[] = [];
  const references: ReferenceResult[] = [];
  for (let run = 0; run < cfg.runs; run++) {
    for (const latency of cfg.latencies) {
      // Rotate the order per run so no target always goes first (or last).
      const order = cfg.targets.map((_, i) => cfg.targets[(i + run) % cfg.targets.length]!);
      for (const target of order) {
        log(`run ${run + 1}/${cfg.runs}, Vault latency ${latency} ms, target ${target}`);
        results.push(await runTarget(target, latency, run, cfg, log));
      }
    }
    // After the targets, so the load generator's code is as warm as it was for them.
    for (const server of echoBuildError ? (['grpc-js'] as const) : (['grpc-js', 'grpc-go'] as const)) {
      await waitForQuietMachine(cfg, log);
      log(`run ${run + 1}/${cfg.runs}, reference: one gRPC hop to a constant ${server} server`);
      references.push(await runReference(server, run, cfg));
    }
  }

  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  const rawDir = join(REPO_ROOT, 'bench/results');
  mkdirSync(rawDir, { recursive: true });
  const rawFile = join(rawDir, `bench-${cfg.quick ? 'quick-' : ''}${stamp}.json`);
  const input: ReportInput = {
    cfg,
    machine: machine(),
    results,
    references,
    pluginDescription: plugin.description,
    goModelDescription: goModelCommand().description,
    goModelUnavailable,
    wallSeconds: (Date.now() - started) / 1000,
    rawFile: relative(REPO_ROOT, rawFile),
  };
  writeFileSync(rawFile, JSON.stringify({ ...input, notes: undefined }, null, 1));
  const markdown = renderMarkdown(input, notesFor(input));
  process.stdout.write(markdown);
  if (writeDocs) {
    writeFileSync(join(REPO_ROOT, 'docs/benchmarks.md'), markdown);
    log('wrote docs/benchmarks.md');
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
