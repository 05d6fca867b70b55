/**
 * npm run test:chaos (and the last step of npm test): the short chaos run of issue 21. Every fault of
 * test/cluster/chaos/chaos.ts once for our plugin, then once for the Go plugin v1.4.0, on one kubelet node
 * under a steady Secret load. Passes when the plugin recovers from every fault (within a generous limit)
 * and every Secret ever written reads back with its value: no wall-clock thresholds beyond that.
 * Runs as root in a private network namespace (test/cluster/run.sh chaos).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { ChaosRun, type ChaosResult } from './chaos';
import { faultTable } from './table';

describe('faults while the cluster serves: ours, then the Go plugin, under a steady Secret load', { timeout: 45 * 60_000 }, () => {
  const run = new ChaosRun({
    secondsPerPlugin: 0,
    gapSeconds: 0,
    writesPerSecond: 20,
    readsPerSecond: 50,
    secrets: 1500,
    quietSeconds: 5,
    recoveryTimeoutSeconds: 300,
    log: (line) => console.log(line),
  });
  let result: ChaosResult | undefined;

  before(async () => {
    await run.setUp();
  });

  after(async () => {
    await run.tearDown();
    if (result) {
      console.log(faultTable(result));
      const out = process.env.KMS_CHAOS_RESULT;
      if (out) writeFileSync(out, `${JSON.stringify(result, null, 2)}\n`);
    }
  });

  it('recovers from every fault, and every Secret ever written reads back with its value (both plugins)', async () => {
    const r: ChaosResult = await run.execute();
    result = r;
    // Ours recovers by itself from every fault. The Go plugin may need what its own log tells the operator
    // (after a SIGKILL its leftover socket stops it: "Use -force-socket-overwrite"); then it must serve again.
    for (const f of r.faults)
      assert.ok(f.recovered || (f.plugin === 'go' && f.remedy?.recoveredSeconds != null), `${f.plugin} ${f.fault} not recovered: ${f.notes} ${JSON.stringify(f.remedy ?? '')}`);
    assert.equal(r.error, undefined);
    for (const plugin of ['ours', 'go'] as const) {
      const c = r.checks[plugin];
      assert.ok(c && c.acknowledged > 0, `${plugin}: no Secret was written`);
      assert.deepEqual({ lost: c.lost, unreadable: c.unreadable, wrong: c.wrong }, { lost: 0, unreadable: 0, wrong: 0 }, `${plugin}: ${c.examples.join('; ')}`);
    }
    assert.equal(r.wrongReadsDuringLoad, 0, 'a read returned a value no write gave');
  });
});
