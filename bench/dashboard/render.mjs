// Draws deploy/monitoring/grafana-dashboard.json from real data, without Grafana:
// every panel's PromQL is evaluated by Prometheus' own engine (promql-eval, in
// this folder) over the scrapes bench/dashboard/record.ts took, and drawn with
// vega-lite on the dashboard's grid (rows, widths, units, legends, stat value
// mappings).
//   node bench/dashboard/render.mjs <record dir> <promql-eval binary> <out.svg>
// $__rate_interval is 30s (Grafana's choice for a 5 s scrape interval:
// max(4 x scrape interval, step + scrape interval)); $instance matches all.
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import * as vega from 'vega';
import * as vl from 'vega-lite';

const [recordDir, evaluator, outFile] = process.argv.slice(2);
if (!recordDir || !evaluator || !outFile) {
  process.stderr.write('usage: node bench/dashboard/render.mjs <record dir> <promql-eval binary> <out.svg>\n');
  process.exit(2);
}
const root = new URL('../..', import.meta.url).pathname;
const dashboard = JSON.parse(readFileSync(join(root, 'deploy/monitoring/grafana-dashboard.json'), 'utf8'));
const range = JSON.parse(readFileSync(join(recordDir, 'range.json'), 'utf8'));
const promtool = process.env.KMS_TEST_PROMTOOL || join(root, '.tools/bin/promtool');

// The scrapes as a TSDB, as Prometheus would have stored them.
const tsdb = join(recordDir, 'tsdb');
rmSync(tsdb, { recursive: true, force: true });
execFileSync(promtool, ['tsdb', 'create-blocks-from', 'openmetrics', join(recordDir, 'scrapes.om'), tsdb], { stdio: 'pipe' });

const panels = dashboard.panels;
const queries = [];
panels.forEach((p, i) =>
  (p.targets ?? []).forEach((t, j) =>
    queries.push({ id: `${i}/${j}`, expr: t.expr.replaceAll('$__rate_interval', '30s').replaceAll('$instance', '.*') }),
  ),
);
const results = JSON.parse(
  execFileSync(evaluator, ['-tsdb', tsdb, '-start', String(range.start), '-end', String(range.end), '-step', `${range.step}s`], {
    input: JSON.stringify(queries),
    maxBuffer: 64 << 20,
  }).toString(),
);
const byId = new Map(results.map((r) => [r.id, r]));
for (const r of results) if (r.error) throw new Error(`${r.id}: ${r.error}`);

const WIDTH = 1400;
const ROW_HEIGHT = 26;
const legendOf = (format, metric) =>
  (format ?? '').replace(/\{\{\s*(\w+)\s*\}\}/g, (_, k) => metric[k] ?? (k === 'instance' ? 'plugin' : '')).trim() || 'value';
const UNIT = { s: 'seconds', reqps: 'requests/s', ops: 'operations/s', bytes: 'bytes', percentunit: 'CPU (1 = one core)', short: '' };

function formatValue(v, unit) {
  if (unit === 'bytes') return `${(v / 1024 / 1024).toFixed(0)} MiB`;
  if (unit === 's') return v >= 3600 ? `${(v / 3600).toFixed(1)} h` : v >= 60 ? `${(v / 60).toFixed(1)} min` : `${v.toFixed(0)} s`;
  return Number.isInteger(v) ? String(v) : v.toFixed(2);
}

function panelData(i) {
  const p = panels[i];
  const rows = [];
  (p.targets ?? []).forEach((t, j) => {
    for (const s of byId.get(`${i}/${j}`).series) {
      for (const [ts, v] of s.points) rows.push({ t: ts - range.start, v, series: legendOf(t.legendFormat, s.metric) });
    }
  });
  return rows;
}

function timeseries(i, width) {
  const p = panels[i];
  const unit = p.fieldConfig?.defaults?.unit;
  const data = panelData(i);
  return {
    title: { text: p.title, anchor: 'start', fontSize: 13 },
    width,
    height: p.gridPos.h * ROW_HEIGHT - 60,
    data: { values: data.length > 0 ? data : [{ t: 0, v: 0, series: 'no data' }] },
    mark: { type: 'line', interpolate: 'linear', strokeWidth: 1.5 },
    encoding: {
      x: { field: 't', type: 'quantitative', title: 'seconds into the run', scale: { domain: [0, range.end - range.start] } },
      y: { field: 'v', type: 'quantitative', title: UNIT[unit] ?? unit ?? '' },
      color: { field: 'series', type: 'nominal', title: null, legend: { orient: 'bottom', columns: 3, labelLimit: 260 } },
    },
  };
}

function stat(i, width) {
  const p = panels[i];
  const unit = p.fieldConfig?.defaults?.unit;
  const mapping = p.fieldConfig?.defaults?.mappings?.[0]?.options ?? {};
  const data = panelData(i);
  const last = data.at(-1);
  const text = last ? (mapping[String(last.v)]?.text ?? formatValue(last.v, unit)) : 'no data';
  // As Grafana colours a stat: its value mapping, else the highest threshold step the value reaches.
  const steps = p.fieldConfig?.defaults?.thresholds?.steps ?? [];
  const threshold = last ? steps.filter((s) => s.value === null || last.v >= s.value).at(-1)?.color : undefined;
  const color = last ? (mapping[String(last.v)]?.color ?? threshold ?? '#1f77b4') : 'gray';
  return {
    title: { text: p.title, anchor: 'start', fontSize: 13 },
    width,
    height: p.gridPos.h * ROW_HEIGHT - 40,
    layer: [
      {
        data: { values: data },
        mark: { type: 'area', opacity: 0.25, color, line: { color } },
        encoding: {
          x: { field: 't', type: 'quantitative', axis: null, scale: { domain: [0, range.end - range.start] } },
          y: { field: 'v', type: 'quantitative', axis: null },
        },
      },
      { data: { values: [{ text }] }, mark: { type: 'text', fontSize: 30, fontWeight: 'bold', color, x: width / 2, y: 35 }, encoding: { text: { field: 'text' } } },
    ],
  };
}

// Grafana's grid: a "row" panel starts a section; the others sit left to right by gridPos.x.
const sections = [];
for (let i = 0; i < panels.length; i++) {
  const p = panels[i];
  if (p.type === 'row') {
    sections.push({ title: p.title, lines: [] });
    continue;
  }
  const section = sections.at(-1);
  let line = section.lines.find((l) => l.y === p.gridPos.y);
  if (!line) section.lines.push((line = { y: p.gridPos.y, panels: [] }));
  line.panels.push(i);
}
const vconcat = [];
for (const s of sections) {
  vconcat.push({
    data: { values: [{ text: s.title }] },
    mark: { type: 'text', align: 'left', baseline: 'middle', fontSize: 16, fontWeight: 'bold', x: 0, y: 10 },
    encoding: { text: { field: 'text' } },
    width: WIDTH,
    height: 20,
  });
  for (const line of s.lines) {
    vconcat.push({
      hconcat: line.panels.map((i) => {
        const width = Math.round((panels[i].gridPos.w / 24) * WIDTH) - 90;
        return panels[i].type === 'stat' ? stat(i, width) : timeseries(i, width);
      }),
      resolve: { scale: { color: 'independent' } },
    });
  }
}
const minutes = ((range.end - range.start) / 60).toFixed(1);
const spec = {
  $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
  background: 'white',
  title: {
    text: `${dashboard.title}: real data`,
    subtitle: `the built plugin on real OpenBao 2.7.2 under scripted load, ${minutes} min, scraped every ${range.step} s; PromQL evaluated by Prometheus' engine. Key rotated at ~35%, OpenBao sealed from ~60% to ~72%.`,
    anchor: 'start',
    fontSize: 20,
  },
  config: { concat: { spacing: 24 }, axis: { labelFontSize: 10, titleFontSize: 10 }, legend: { labelFontSize: 10 } },
  vconcat,
  resolve: { scale: { color: 'independent' } },
};
const view = new vega.View(vega.parse(vl.compile(spec).spec), { renderer: 'none' });
writeFileSync(outFile, await view.toSVG());
view.finalize();
process.stdout.write(`${outFile}: ${panels.filter((p) => p.type !== 'row').length} panels, ${queries.length} queries\n`);
