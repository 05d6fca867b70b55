import assert from 'node:assert/strict';
import { after, before, describe, it, type TestContext } from 'node:test';
import { RaftCluster } from '../support/openbao-raft';
import { REAL_SERVER_NAME, realServerUnderTest } from '../support/real-server';
import {
  HealthPoller,
  SteadyLoad,
  killActiveAndRestart,
  prepare,
  startOurs,
  stopPlugin,
  summarize,
  type PluginUnderTest,
} from '../support/ha-scenario';
import { sleep } from '../support/plugin-process';

/**
 * The built CLI, given the three addresses of a real 3-node Raft cluster
 * (OpenBao; Vault from on-vault/ha-raft.test.ts, in the scenario where its
 * Community Edition behaves alike: standbys forward every request), under kube-apiserver's steady load (20 Decrypts/s, 2 Status/s,
 * 3 s deadlines) while the active node is SIGKILLed and then restarted and
 * unsealed. bench/ha.ts runs the same cycle against the Go plugin (docs/ha.md).
 */

/** The body of `url` once `check` accepts it (health checks run every few seconds at most). */
async function eventuallyText(url: string, check: (text: string) => boolean): Promise<string> {
  let text = '';
  const until = Date.now() + 20_000;
  while (Date.now() < until) {
    text = await (await fetch(url)).text();
    if (check(text)) return text;
    await sleep(500);
  }
  assert.fail(`${url} never showed every address as ok:\n${text}`);
}

/** Nodes in an order that puts the active one first (or a standby first). */
async function ordered(cluster: RaftCluster, activeFirst: boolean): Promise<string[]> {
  const active = await cluster.waitForActive();
  const standbys = cluster.nodes.filter((n) => n !== active).map((n) => n.url);
  return activeFirst ? [active.url, ...standbys] : [standbys[0], active.url, standbys[1]];
}

/**
 * `npm test` runs test/e2e twice, the second time on the packaged artifact to
 * check the packaging. These scenarios take minutes and exercise the same
 * JavaScript, so they run once, on the built CLI.
 */
const skip = process.env.KMS_PLUGIN_BIN ? 'the HA scenarios run on the built CLI only (same code, minutes each)' : false;
const kind = realServerUnderTest();
const NAME = REAL_SERVER_NAME[kind];
/** Vault CE's standbys never serve Transit themselves: the scenarios of OpenBao's standby reads do not apply. */
const openBaoOnly = skip || (kind !== 'openbao' && "OpenBao's standby reads and default timing: Vault CE forwards from standbys, as the 2 s election scenario");

function report(t: TestContext, name: string, s: ReturnType<typeof summarize>): void {
  t.diagnostic(`${name}: ${s.failedDecrypts}/${s.decrypts} Decrypts and ${s.failedStatuses}/${s.statuses} Status failed ${JSON.stringify(s.errors)}`);
}

describe(`HA: a 3-node ${NAME} Raft cluster with default settings (standbys serve Transit)`, { skip: openBaoOnly, timeout: 300_000 }, () => {
  let cluster: RaftCluster;
  const plugins: PluginUnderTest[] = [];
  before(async () => {
    cluster = await RaftCluster.start();
  });
  after(async () => {
    for (const p of plugins) await stopPlugin(p);
    await cluster?.close();
  });

  it('SIGKILL of the active node, then its restart: 0 failed Decrypts and Status, with the active node or a standby listed first', async (t) => {
    const activeFirst = await startOurs('ours, active listed first', await ordered(cluster, true), cluster.kmsToken);
    plugins.push(activeFirst);
    const standbyFirst = await startOurs('ours, standby listed first', await ordered(cluster, false), cluster.kmsToken);
    plugins.push(standbyFirst);
    const loads = [new SteadyLoad(activeFirst, await prepare(activeFirst)), new SteadyLoad(standbyFirst, await prepare(standbyFirst))];
    for (const l of loads) l.start();
    const timeline = await killActiveAndRestart(cluster);
    const results = await Promise.all(loads.map((l) => l.stop()));
    for (const [i, p] of [activeFirst, standbyFirst].entries()) {
      const s = summarize(results[i], timeline.killedAt);
      report(t, p.name, s);
      assert.ok(s.decrypts > 100, `${p.name}: the load ran (${s.decrypts} Decrypts)`);
      assert.equal(s.failedDecrypts + s.failedStatuses, 0, `${p.name}: ${JSON.stringify(s.errors)}`);
    }
    // Per address, without secrets: /health?verbose and the metrics name each node, once every node is back.
    const verbose = await eventuallyText(`${activeFirst.healthUrl}?verbose`, (text) => cluster.urls.every((u) => text.includes(`vault ${u}: ok (`)));
    assert.doesNotMatch(verbose, new RegExp(cluster.kmsToken));
    const metrics = await (await fetch(activeFirst.healthUrl.replace('/health', '/metrics'))).text();
    for (const u of cluster.urls) assert.match(metrics, new RegExp(`vault_kubernetes_kms_vault_address_healthy\\{address="${u}"\\} 1`));
    assert.equal(metrics.match(/vault_kubernetes_kms_vault_address_in_use\{[^}]*\} 1/g)?.length, 1, 'requests go to one address');
  });

  it('losing every address: Status and /health turn not ok while every node is down, and ok again once a node is active', async (t) => {
    const p = plugins[0];
    const health = new HealthPoller(p.healthUrl).start();
    const load = new SteadyLoad(p, await prepare(p, 10)).start();
    try {
      await sleep(2000);
      const lostAt = Date.now();
      await Promise.all(cluster.nodes.map((n) => n.kill()));
      await sleep(5000);
      const restartedAt = Date.now();
      for (const n of cluster.nodes) n.start();
      await Promise.all(cluster.nodes.map((n) => cluster.unseal(n)));
      await cluster.waitForActive(90_000);
      const recoveredAt = Date.now();
      await sleep(5000);
      const calls = await load.stop();
      await health.stop();
      const statuses = calls.filter((c) => c.op === 'status');
      const firstNotOk = statuses.find((c) => c.start >= lostAt && !c.ok);
      const healthNotOk = health.samples.find((s) => s.at >= lostAt && !s.ok);
      assert.ok(firstNotOk && healthNotOk, 'Status and /health turned not ok');
      t.diagnostic(`not ok after: Status ${firstNotOk.end - lostAt} ms, /health ${healthNotOk.at - lostAt} ms`);
      // Behaviour, not timing (the seconds are bench/ha.ts's to measure): both turned not ok while every node was down.
      assert.ok(firstNotOk.start < restartedAt, `Status still ok when the nodes came back (${firstNotOk.end - lostAt} ms)`);
      assert.ok(healthNotOk.at < restartedAt, `/health still ok when the nodes came back (${healthNotOk.at - lostAt} ms)`);
      const statusOk = statuses.find((c) => c.start >= recoveredAt && c.ok);
      const healthOk = health.samples.find((s) => s.at >= recoveredAt && s.ok);
      assert.ok(statusOk && healthOk, 'Status and /health turned ok again');
      t.diagnostic(`ok again after the new leader: Status ${statusOk.end - recoveredAt} ms, /health ${healthOk.at - recoveredAt} ms`);
      const backAt = Math.max(statusOk.end, healthOk.at);
      const laterFailures = calls.filter((c) => c.start >= backAt && !c.ok);
      assert.equal(laterFailures.length, 0, `after recovery: ${JSON.stringify(laterFailures.slice(0, 3))}`);
    } finally {
      await load.stop();
      await health.stop();
    }
  });
});

describe(`HA on ${NAME}: ${kind === 'openbao' ? 'disable_standby_reads=true' : 'standbys forward every request'} with performance_multiplier=1 (2 s elections)`, { skip, timeout: 200_000 }, () => {
  let cluster: RaftCluster;
  let plugin: PluginUnderTest | undefined;
  before(async () => {
    cluster = await RaftCluster.start({ kind, disableStandbyReads: true, performanceMultiplier: 1 });
  });
  after(async () => {
    await stopPlugin(plugin);
    await cluster?.close();
  });

  it('SIGKILL of the active node (listed first), then its restart: 0 failed Decrypts and Status', async (t) => {
    plugin = await startOurs('ours', await ordered(cluster, true), cluster.kmsToken);
    const load = new SteadyLoad(plugin, await prepare(plugin)).start();
    const timeline = await killActiveAndRestart(cluster);
    const s = summarize(await load.stop(), timeline.killedAt);
    report(t, 'ours', s);
    t.diagnostic(`election took ${timeline.newLeaderAt - timeline.killedAt} ms`);
    assert.ok(s.decrypts > 100, `the load ran (${s.decrypts} Decrypts)`);
    assert.equal(s.failedDecrypts + s.failedStatuses, 0, JSON.stringify(s.errors));
  });
});

describe(`HA on ${NAME}: disable_standby_reads=true with default Raft timing (an election longer than the deadline)`, { skip: openBaoOnly, timeout: 300_000 }, () => {
  let cluster: RaftCluster;
  let plugin: PluginUnderTest | undefined;
  before(async () => {
    cluster = await RaftCluster.start({ disableStandbyReads: true });
  });
  after(async () => {
    await stopPlugin(plugin);
    await cluster?.close();
  });

  it('reports the failures during the election and serves every Decrypt sent from 1 s after the new leader on', async (t) => {
    plugin = await startOurs('ours', await ordered(cluster, true), cluster.kmsToken);
    const load = new SteadyLoad(plugin, await prepare(plugin)).start();
    const timeline = await killActiveAndRestart(cluster);
    const calls = await load.stop();
    const s = summarize(calls, timeline.killedAt);
    report(t, 'ours', s);
    const electionMs = timeline.newLeaderAt - timeline.killedAt;
    t.diagnostic(`election took ${electionMs} ms; failures until ${s.failingForMs} ms after the kill`);
    const decrypts = calls.filter((c) => c.op === 'decrypt');
    const lateFailures = decrypts.filter((c) => c.start >= timeline.newLeaderAt + 1000 && !c.ok);
    assert.equal(lateFailures.length, 0, `Decrypts sent 1 s or more after the new leader failed: ${JSON.stringify(lateFailures.slice(0, 3))}`);
    const firstSuccess = decrypts.find((c) => c.ok && c.end >= timeline.newLeaderAt);
    assert.ok(firstSuccess, 'Decrypts are served again after the new leader');
    t.diagnostic(`first Decrypt served ${firstSuccess.end - timeline.newLeaderAt} ms after the new leader`);
    // What cannot be hidden: requests whose whole deadline fell inside the election.
    if (electionMs > 3500) assert.ok(s.failedDecrypts > 0, 'an election longer than the deadline fails some requests');
  });
});
