// Renders docs/reliability.md and its charts from the result of a chaos run (test/cluster/chaos/long.ts,
// or the short test with KMS_CHAOS_RESULT set):
//
//   node test/cluster/chaos/report.mjs <result.json> docs/
//
// Writes reliability.md (tables per fault and plugin, the read-back of every Secret, memory and file
// descriptors), reliability-failures.svg (failed requests per 5 s over the run, faults marked) and
// reliability-rss.svg (the plugin's RSS and open file descriptors). The text between the
// "<!-- findings -->" markers of an existing reliability.md is written by hand and kept as it is.
// Plain ESM because vega and vega-lite ship as ES modules only.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as vega from 'vega';
import * as vl from 'vega-lite';

const [resultFile, outDir] = process.argv.slice(2);
if (!resultFile || !outDir) {
  process.stderr.write('usage: node test/cluster/chaos/report.mjs <result.json> <output dir>\n');
  process.exit(2);
}
const r = JSON.parse(readFileSync(resultFile, 'utf8'));
const LABEL = { ours: 'ours', go: 'Go plugin v1.4.0' };
const FAULT_TEXT = {
  'raft-active-killed': 'Raft active node SIGKILLed, restarted 15 s later',
  'raft-active-killed-again': 'the same, once more (the Go plugin\'s address now a standby, unless it was elected again)',
  'vault-sealed-30s': 'every OpenBao node sealed for 30 s, then unsealed',
  'transit-rotated-and-reencrypted': 'Transit key rotated, then every Secret re-encrypted (kubectl get piped to kubectl replace)',
  'token-revoked-and-replaced': 'the plugin\'s token revoked, a new one given 5 s later',
  'plugin-sigkilled': 'the plugin container SIGKILLed',
  'plugin-image-swapped': 'the plugin\'s image swapped (static-Pod manifest edited, new tag)',
  'apiserver-restarted': 'kube-apiserver\'s static Pod replaced',
};
const faultOrder = Object.keys(FAULT_TEXT);
const median = (xs) => {
  const s = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (s.length === 0) return undefined;
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};
const fmt = (x) => (x === undefined || x === null ? '–' : Number.isInteger(x) ? String(x) : x.toFixed(1));
const minutes = (s) => `${Math.round(s / 6) / 10} min`;

// ---- the table: one row per fault, a column group per plugin --------------------------------------------------
function row(plugin, fault) {
  const runs = r.faults.filter((f) => f.plugin === plugin && f.fault === fault);
  if (runs.length === 0) return undefined;
  const sum = (k) => runs.reduce((n, f) => n + f[k], 0);
  const firsts = runs.map((f) => f.firstSuccessSeconds).filter((x) => x !== null);
  return {
    n: runs.length,
    lasted: fmt(median(runs.map((f) => f.faultSeconds))),
    failedWrites: `${sum('failedWrites')} / ${sum('writes')}`,
    failedReads: `${sum('failedReads')} / ${sum('reads')}`,
    first: firsts.length ? `${fmt(median(firsts))}${runs.length > 1 ? ` (max ${fmt(Math.max(...firsts))})` : ''}` : '–',
    recovery: runs.every((f) => f.recovered)
      ? `${fmt(median(runs.map((f) => f.recoverySeconds)))}${runs.length > 1 ? ` (max ${fmt(Math.max(...runs.map((f) => f.recoverySeconds)))})` : ''}`
      : runs.every((f) => f.recovered || f.remedy?.recoveredSeconds != null)
        ? `not by itself; serving ${runs.filter((f) => f.remedy).map((f) => fmt(f.remedy.recoveredSeconds)).join(', ')} s after the fault once the flag its log names was added`
        : 'NOT recovered',
    restarts: runs.some((f) => f.remedy) ? 'crash loop' : sum('pluginRestarts'),
  };
}
const table = [
  '| fault | plugin | times | fault lasted (s) | failed writes | failed reads | first success after a failure (s) | recovered after (s) | kubelet restarts of the plugin |',
  '|---|---|---:|---:|---:|---:|---:|---:|---:|',
];
for (const fault of faultOrder)
  for (const plugin of ['ours', 'go']) {
    const x = row(plugin, fault);
    if (x) table.push(`| ${FAULT_TEXT[fault]} | ${LABEL[plugin]} | ${x.n} | ${x.lasted} | ${x.failedWrites} | ${x.failedReads} | ${x.first} | ${x.recovery} | ${x.restarts} |`);
  }

const checks = ['| after the faults of | Secrets acknowledged | read back and compared | lost | unreadable | wrong value |', '|---|---:|---:|---:|---:|---:|'];
for (const plugin of ['ours', 'go']) {
  const c = r.checks[plugin];
  if (!c) continue;
  checks.push(`| ${LABEL[plugin]} | ${c.acknowledged} | ${c.checked} | ${c.lost} | ${c.unreadable} | ${c.wrong} |`);
}

const memory = ['| plugin | samples | RSS min / median / max (MiB) | open fds min / median / max |', '|---|---:|---:|---:|'];
for (const plugin of ['ours', 'go']) {
  const s = r.samples.filter((x) => x.plugin === plugin);
  if (s.length === 0) continue;
  const rss = s.map((x) => x.rssMiB);
  const fds = s.map((x) => x.fds);
  memory.push(`| ${LABEL[plugin]} | ${s.length} | ${fmt(Math.min(...rss))} / ${fmt(median(rss))} / ${fmt(Math.max(...rss))} | ${Math.min(...fds)} / ${median(fds)} / ${Math.max(...fds)} |`);
}

const errors = [];
for (const plugin of ['ours', 'go'])
  for (const fault of faultOrder) {
    const counts = new Map();
    for (const f of r.faults.filter((x) => x.plugin === plugin && x.fault === fault)) for (const e of f.errors) counts.set(e.error, (counts.get(e.error) ?? 0) + e.count);
    if (counts.size === 0) continue;
    const top = [...counts.entries()].sort((a, b) => b[1] - a[1]).slice(0, 3);
    errors.push(`- ${LABEL[plugin]}, ${fault}: ${top.map(([e, n]) => `${n} × \`${e.replace(/`/g, "'").slice(0, 160)}\``).join('; ')}`);
  }

const notes = [];
for (const plugin of ['ours', 'go'])
  for (const fault of faultOrder) {
    const f = r.faults.find((x) => x.plugin === plugin && x.fault === fault);
    if (f) notes.push(`- ${LABEL[plugin]}, ${fault}: ${f.notes}`);
  }

// ---- charts ---------------------------------------------------------------------------------------------------
const timeline = r.timeline.flatMap((b) => [
  { minute: b.at / 60, kind: 'failed writes', count: b.failedWrites },
  { minute: b.at / 60, kind: 'failed reads', count: b.failedReads },
]);
const marks = r.faults.map((f) => ({ minute: f.at / 60, label: `${f.plugin === 'ours' ? 'ours' : 'Go'}: ${f.fault}` }));
const phases = r.phases.map((p) => ({ from: p.from / 60, to: p.to / 60, plugin: LABEL[p.plugin] }));
const failuresSpec = {
  $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
  title: 'Failed kube-apiserver requests per 5 s (faults marked; shaded: the plugin serving)',
  width: 900,
  height: 260,
  layer: [
    {
      data: { values: phases },
      mark: { type: 'rect', opacity: 0.12 },
      encoding: { x: { field: 'from', type: 'quantitative' }, x2: { field: 'to' }, color: { field: 'plugin', type: 'nominal', scale: { range: ['#1f77b4', '#d62728'] }, title: 'serving' } },
    },
    {
      data: { values: marks },
      mark: { type: 'rule', color: '#888', strokeDash: [3, 3] },
      encoding: { x: { field: 'minute', type: 'quantitative' }, tooltip: { field: 'label' } },
    },
    {
      data: { values: timeline },
      mark: { type: 'line', interpolate: 'step-after' },
      encoding: {
        x: { field: 'minute', type: 'quantitative', title: 'minutes since the load started' },
        y: { field: 'count', type: 'quantitative', title: 'failed requests per 5 s' },
        strokeDash: { field: 'kind', type: 'nominal', title: '' },
      },
    },
  ],
  resolve: { scale: { color: 'independent' } },
};
const rssSpec = {
  $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
  title: "The plugin's RSS and open file descriptors, sampled every 5 s",
  data: { values: r.samples.flatMap((s) => [{ minute: s.at / 60, plugin: LABEL[s.plugin], what: 'RSS (MiB)', value: s.rssMiB }, { minute: s.at / 60, plugin: LABEL[s.plugin], what: 'open file descriptors', value: s.fds }]) },
  mark: { type: 'line', point: { size: 8 } },
  encoding: {
    x: { field: 'minute', type: 'quantitative', title: 'minutes since the run started' },
    y: { field: 'value', type: 'quantitative', title: '' },
    color: { field: 'plugin', type: 'nominal', scale: { range: ['#d62728', '#1f77b4'] } },
    row: { field: 'what', type: 'nominal', title: '' },
  },
  resolve: { scale: { y: 'independent' } },
  width: 900,
  height: 160,
};
async function svg(spec, file) {
  const view = new vega.View(vega.parse(vl.compile(spec).spec), { renderer: 'none' });
  writeFileSync(join(outDir, file), await view.toSVG());
}
await svg(failuresSpec, 'reliability-failures.svg');
await svg(rssSpec, 'reliability-rss.svg');

// ---- the document -------------------------------------------------------------------------------------------
const docFile = join(outDir, 'reliability.md');
const previous = existsSync(docFile) ? readFileSync(docFile, 'utf8') : '';
const kept = /<!-- findings -->\n([\s\S]*?)<!-- \/findings -->/.exec(previous)?.[1] ?? '(Written by hand after a run: what the table shows, and why.)\n';
const o = r.options;
const doc = `# Reliability: faults while the cluster serves

What kube-apiserver, and so every controller and user of a cluster, sees while a fault hits the KMS plugin or
Vault, and whether anything is lost: our plugin and the Go plugin v1.4.0 under the same faults in the same run.
Generated by \`npm run chaos:long -- <minutes>\` (test/cluster/chaos/long.ts, rendered by
test/cluster/chaos/report.mjs); the short run (every fault once) is \`npm run test:chaos\`, part of \`npm test\`.

## The run

${r.error ? `**This run stopped early: ${r.error}**\n\n` : ''}- **This run: ${minutes(r.seconds)}** in all, started ${r.startedAt}, ${o.secondsPerPlugin > 0 ? `about ${minutes(o.secondsPerPlugin)} per plugin, faults on a schedule with ${o.gapSeconds} s of plain load before each` : 'every fault once per plugin'}.
  (The command's default is 60 minutes; the published run is as long as it says here.)
- One node: a real kubelet and containerd run etcd, kube-apiserver ${r.versions.kubernetes} (KMS v2,
  manifests/encryption-config-v2.yaml) and the plugin as static Pods (test/cluster/node.ts), in a network
  namespace of their own, on a shared 2-CPU machine.
- Vault: a real 3-node ${r.versions.openbao.split(' ').slice(0, 2).join(' ')} Raft cluster, plain HTTP on loopback,
  \`performance_multiplier = 1\` (docs/ha.md), token auth with the policy of manifests/kms-policy.hcl.
- **Ours** (${r.versions.plugin}): manifests/static-pod-token.yaml, all three addresses, the token in \`-token-file\`.
  **The Go plugin** (${r.versions.goPlugin}): its upstream static Pod (assets/vault-kubernetes-kms.yml), the one
  address its documentation shows (the first node), the token on the command line (it reads no token file).
  Ours serves first; then its manifest is replaced by the Go plugin's, on the same node, the same Secrets.
- The load (test/cluster/chaos/load.ts), for the whole run: HTTPS to kube-apiserver with keep-alive and the admin
  certificate, ${o.writesPerSecond} writes/s (creating up to ${o.secrets} Secrets, then updating them) and
  ${o.readsPerSecond} reads/s, each value random and checked; every failed request recorded with its time and error.
- Per fault: "fault lasted" is the time its own steps took (for a Raft node, 15 s down and the unseal; for the
  seal, 30 s sealed and the unseal; for the rotation, the wait until kube-apiserver used the new key version and
  the re-encryption). From the fault on, kube-apiserver's \`/readyz\` (which includes its KMS check) and the
  plugin's Pod readiness are polled every second. "Recovered after" is the time from the fault to the end of the
  last failed request or the last failed poll, whichever came later (0: neither); the fault is over once its steps
  are done, both are ready and ${o.quietSeconds} s have passed without a failed request. "First success" is the
  first request to succeed after the first failure. Failed requests count those sent from the fault until then.
  Medians over the times a fault was applied, the maximum in brackets.

## Per fault and plugin

${table.join('\n')}

## Every Secret ever written, read back

The load stopped, every Secret read back one by one through kube-apiserver (each read decrypts) and compared with
the last acknowledged write (or one whose outcome was unknown); then the load started again.

${checks.join('\n')}

Reads during the load that returned a value no write gave: ${r.wrongReadsDuringLoad}.
Requests the generator could not send on time (more than 200 in flight): ${r.generatorSkipped.write} writes, ${r.generatorSkipped.read} reads.

![Failed requests over the run](reliability-failures.svg)

## Memory and file descriptors of the plugin

${memory.join('\n')}

![RSS and open file descriptors](reliability-rss.svg)

## The errors kube-apiserver returned

${errors.length ? errors.join('\n') : 'None.'}

## What each fault did (first occurrence)

${notes.join('\n')}

## Findings

<!-- findings -->
${kept}<!-- /findings -->
`;
writeFileSync(docFile, doc);
console.log(`chaos: wrote ${docFile}, reliability-failures.svg, reliability-rss.svg`);
