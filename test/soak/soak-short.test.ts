import { it } from 'node:test';
import assert from 'node:assert/strict';
import { runSoak } from './soak';

/** The soak in CI form: 20 seconds of mixed v1/v2 traffic with random Vault faults. */
it('soak (short): no wrong failures, no data lost, no crash, memory flat', async () => {
  const r = await runSoak(20_000, 12);
  process.stdout.write(`# soak: ${JSON.stringify(r)}\n`);
  assert.equal(r.crashed, false);
  assert.ok(r.requests > 500, `${r.requests} requests`);
  assert.ok(Object.values(r.faultsInjected).reduce((a, b) => a + b, 0) >= 3, 'faults were injected');
  assert.deepEqual(r.wrongFailures, []);
  assert.equal(r.failedWrongly, 0);
  assert.equal(r.unanswered, 0);
  assert.equal(r.dataLost, 0);
  assert.ok(r.ciphertextsVerified > 100);
  // 20 s cannot tell a leak from the heap growing to its working size; the full `npm run soak`
  // judges drift. Here: RSS stays well under the 256 Mi limit of manifests/static-pod-*.yaml.
  assert.ok(r.rssEndMb < 230, `RSS ${r.rssStartMb} -> ${r.rssEndMb} MB (idle ${r.rssIdleMb} MB)`);
});
