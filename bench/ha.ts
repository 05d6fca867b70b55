/**
 * `npm run bench:ha`: the HA suite's failure cycle (test/e2e/ha-raft) run
 * against our plugin AND the real Go plugin v1.4.0 at once, on a real 3-node
 * OpenBao 2.7.2 Raft cluster per setting: steady load of 20 Decrypts/s and
 * 2 Status/s per plugin with 3 s deadlines, SIGKILL of the active node, its
 * restart and unseal. Ours gets the three addresses; the Go plugin takes one,
 * so it runs twice: pointed at a standby and at the active node. Writes
 * bench/results/ha.json and prints the table of docs/ha.md.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { RaftCluster, type RaftClusterOptions } from '../test/support/openbao-raft';
import {
  SteadyLoad,
  killActiveAndRestart,
  prepare,
  startGo,
  startOurs,
  stopPlugin,
  summarize,
  type PluginUnderTest,
  type Summary,
} from '../test/support/ha-scenario';
import { REPO_ROOT } from '../test/support/plugin-process';

interface Setting {
  readonly name: string;
  readonly options: RaftClusterOptions;
}

const SETTINGS: readonly Setting[] = [
  { name: 'default settings (standbys serve Transit)', options: {} },
  { name: 'disable_standby_reads=true, performance_multiplier=1', options: { disableStandbyReads: true, performanceMultiplier: 1 } },
  { name: 'disable_standby_reads=true, default Raft timing', options: { disableStandbyReads: true } },
];

interface Row {
  readonly setting: string;
  readonly plugin: string;
  readonly electionMs: number;
  readonly restartAfterKillMs: number;
  readonly summary: Summary;
}

async function runSetting(setting: Setting): Promise<Row[]> {
  const cluster = await RaftCluster.start(setting.options);
  const plugins: PluginUnderTest[] = [];
  try {
    const active = await cluster.waitForActive();
    const standbys = cluster.nodes.filter((n) => n !== active);
    plugins.push(await startOurs('ours: the 3 addresses, the active first', [active.url, ...standbys.map((s) => s.url)], cluster.kmsToken));
    plugins.push(await startGo('Go plugin: a standby', standbys[0].url, cluster.kmsToken));
    plugins.push(await startGo('Go plugin: the active node (its only address)', active.url, cluster.kmsToken));
    const loads: SteadyLoad[] = [];
    for (const p of plugins) loads.push(new SteadyLoad(p, await prepare(p)));
    for (const l of loads) l.start();
    const timeline = await killActiveAndRestart(cluster);
    const results = await Promise.all(loads.map((l) => l.stop()));
    return plugins.map((p, i) => ({
      setting: setting.name,
      plugin: p.name,
      electionMs: timeline.newLeaderAt - timeline.killedAt,
      restartAfterKillMs: timeline.restartedAt - timeline.killedAt,
      summary: summarize(results[i], timeline.killedAt),
    }));
  } finally {
    for (const p of plugins) await stopPlugin(p);
    await cluster.close();
  }
}

function table(rows: readonly Row[]): string {
  const lines = [
    '| Raft setting | plugin | failed Decrypts | failed Status | failures until (after the kill) | errors |',
    '|---|---|---|---|---|---|',
  ];
  for (const r of rows) {
    const s = r.summary;
    const errors = Object.entries(s.errors).map(([k, v]) => `${k}: ${v}`).join('; ') || '-';
    lines.push(`| ${r.setting} (election ${(r.electionMs / 1000).toFixed(1)} s, node back after ${(r.restartAfterKillMs / 1000).toFixed(1)} s) | ${r.plugin} | ${s.failedDecrypts}/${s.decrypts} | ${s.failedStatuses}/${s.statuses} | ${s.failingForMs ? `${(s.failingForMs / 1000).toFixed(1)} s` : '-'} | ${errors} |`);
  }
  return lines.join('\n');
}

async function main(): Promise<void> {
  const rows: Row[] = [];
  for (const setting of SETTINGS) {
    process.stderr.write(`bench:ha: ${setting.name}\n`);
    rows.push(...(await runSetting(setting)));
  }
  const dir = join(REPO_ROOT, 'bench/results');
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'ha.json'), `${JSON.stringify({ date: new Date().toISOString(), rows }, null, 2)}\n`);
  process.stdout.write(`${table(rows)}\n`);
}

main().then(
  () => process.exit(0),
  (e) => {
    process.stderr.write(`bench:ha failed: ${(e as Error).stack ?? e}\n`);
    process.exit(1);
  },
);
