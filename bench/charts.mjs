// Renders the benchmark charts from a bench/results/*.json file to SVG with
// vega-lite compiled to vega and rendered headless (no browser, no canvas):
//
//   node bench/charts.mjs bench/results/<file>.json docs/
//
// Writes bench-latency.svg (p50/p99 per operation and target), bench-storms.svg
// (storm wall time and Vault requests) and bench-rss.svg (RSS over time), all
// for the first Vault backend of the run (real OpenBao in a full run).
// Plain ESM because vega and vega-lite ship as ES modules only.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as vega from 'vega';
import * as vl from 'vega-lite';

const [rawFile, outDir] = process.argv.slice(2);
if (!rawFile || !outDir) {
  process.stderr.write('usage: node bench/charts.mjs <results.json> <output dir>\n');
  process.exit(2);
}
const input = JSON.parse(readFileSync(rawFile, 'utf8'));
const backend = input.cfg.backends[0];
const LABEL = {
  floor: 'floor (direct HTTP)',
  node: 'ours (node dist)',
  artifact: 'ours (artifact)',
  go: 'Go plugin v1.4.0',
  transport: 'transport limit (grpc-js)',
};
const ORDER = ['floor', 'node', 'artifact', 'go', 'transport'].map((k) => LABEL[k]);
const COLORS = ['#7f7f7f', '#1f77b4', '#17becf', '#d62728', '#2ca02c'];

const median = (xs) => {
  const s = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (s.length === 0) return undefined;
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};
const sessionsOf = (target) => input.sessions.filter((s) => s.backend === backend && s.target === target);
const targets = Object.keys(LABEL).filter((t) => sessionsOf(t).length > 0);
const med = (target, pick) => median(sessionsOf(target).map(pick));
const where = backend === 'openbao' ? 'real OpenBao 2.7.2' : backend;
const subtitle = `${where}, grpc-go k8s.io/kms client, median of ${input.cfg.runs} run(s), ${input.machine.date}`;
const color = { field: 'target', type: 'nominal', title: null, sort: ORDER, scale: { domain: ORDER, range: COLORS }, legend: { labelLimit: 400 } };
const calls = input.cfg.stormCalls.toLocaleString('en-US');

async function render(name, spec) {
  const compiled = vl.compile({ $schema: 'https://vega.github.io/schema/vega-lite/v6.json', background: 'white', config: { axis: { labelLimit: 300 } }, ...spec }).spec;
  const view = new vega.View(vega.parse(compiled), { renderer: 'none' });
  const svg = await view.toSVG();
  view.finalize();
  writeFileSync(join(outDir, name), svg);
  return name;
}

const latency = [];
for (const t of targets) {
  for (const [op, key] of [['Status', 'status'], ['Encrypt', 'encrypt'], ['Decrypt', 'decrypt']]) {
    for (const stat of ['p50', 'p99']) {
      const v = med(t, (s) => s[key][`${stat}Ms`]);
      if (v !== undefined) latency.push({ target: LABEL[t], op, stat, ms: v });
    }
  }
}

const storms = [];
for (const t of targets) {
  for (const [storm, key] of [[`v2: ${calls} over ${input.cfg.stormCiphertexts}`, 'stormV2'], [`v1: ${calls} distinct`, 'stormV1']]) {
    const wall = med(t, (s) => s[key].wallMs);
    const req = t === 'transport' ? undefined : med(t, (s) => s[key].vaultRequests);
    storms.push({ target: LABEL[t], storm, wallMs: wall, vaultRequests: req });
  }
}

const rss = [];
for (const t of targets) {
  const first = sessionsOf(t).find((s) => Array.isArray(s.rssSamples) && s.rssSamples.length > 0);
  if (!first) continue;
  for (const p of first.rssSamples) rss.push({ target: LABEL[t], seconds: p.tMs / 1000, rssMiB: p.rssMb });
}

const rssOrder = ORDER.filter((l) => rss.some((p) => p.target === l));
const written = [];
written.push(
  await render('bench-latency.svg', {
    title: { text: 'Sequential call latency (ms), p50 and p99', subtitle },
    data: { values: latency },
    facet: { column: { field: 'op', type: 'nominal', title: null, sort: ['Status', 'Encrypt', 'Decrypt'] } },
    spec: {
      width: 230,
      height: 260,
      mark: { type: 'bar', tooltip: true },
      encoding: {
        x: { field: 'target', type: 'nominal', sort: ORDER, axis: { labelAngle: -35 }, title: null },
        xOffset: { field: 'stat', type: 'nominal', sort: ['p50', 'p99'] },
        y: { field: 'ms', type: 'quantitative', title: 'ms' },
        color,
        opacity: { field: 'stat', type: 'nominal', sort: ['p50', 'p99'], scale: { domain: ['p50', 'p99'], range: [1, 0.45] }, title: 'percentile' },
      },
    },
    resolve: { scale: { y: 'independent' } },
  }),
);

written.push(
  await render('bench-storms.svg', {
    title: { text: `Cold-start storms: ${calls} Decrypts, ${input.cfg.stormInFlight} in flight`, subtitle },
    data: { values: storms },
    hconcat: [
      {
        width: 300,
        height: 240,
        title: 'wall time (ms)',
        mark: { type: 'bar', tooltip: true },
        encoding: {
          x: { field: 'storm', type: 'nominal', title: null, sort: null, axis: { labelAngle: 0 } },
          xOffset: { field: 'target', type: 'nominal', sort: ORDER },
          y: { field: 'wallMs', type: 'quantitative', title: 'ms' },
          color,
        },
      },
      {
        width: 300,
        height: 240,
        title: 'Vault requests',
        transform: [{ filter: 'isValid(datum.vaultRequests)' }],
        mark: { type: 'bar', tooltip: true },
        encoding: {
          x: { field: 'storm', type: 'nominal', title: null, sort: null, axis: { labelAngle: 0 } },
          xOffset: { field: 'target', type: 'nominal', sort: ORDER },
          y: { field: 'vaultRequests', type: 'quantitative', title: 'requests' },
          color,
        },
      },
    ],
  }),
);

written.push(
  await render('bench-rss.svg', {
    title: { text: 'Resident memory (VmRSS) of each process over its whole session', subtitle: [subtitle, 'run 1, sampled every 100 ms: start-up, idle (2 s), latencies, v2 storm, v1 storm, sustained load'] },
    data: { values: rss },
    width: 640,
    height: 280,
    mark: { type: 'line', interpolate: 'step-after' },
    encoding: {
      x: { field: 'seconds', type: 'quantitative', title: 'seconds since spawn' },
      y: { field: 'rssMiB', type: 'quantitative', title: 'RSS (MiB)' },
      // Only the processes that were sampled (the floor has none).
      color: { ...color, sort: rssOrder, scale: { domain: rssOrder, range: rssOrder.map((l) => COLORS[ORDER.indexOf(l)]) } },
    },
  }),
);
process.stdout.write(`charts: ${written.map((w) => join(outDir, w)).join(', ')}\n`);
