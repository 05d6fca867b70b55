import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

/** test/support/runner-guard.ts, as scripts/run-tests.mjs loads it, on a file that hangs in every way it can. */
describe('the test runner guard', { timeout: 120_000 }, () => {
  it('fails a hanging test and a hanging hook by name, keeps a suite\'s own timeout, and kills the child left running', () => {
    const support = join(__dirname, '../support');
    const run = spawnSync(process.execPath, [
      '--require', join(support, 'runner-guard.js'), '--test-force-exit', '--test', '--test-reporter=tap',
      join(support, 'runner-guard-fixture/hangs.js'),
    ], { encoding: 'utf8', env: { PATH: process.env.PATH, KMS_TEST_TIMEOUT_MS: '1000' }, timeout: 100_000 });
    const out = run.stdout + run.stderr;
    assert.equal(run.signal, null, `the run ended by itself:\n${out}`);
    assert.equal(run.status, 1, out);
    assert.match(out, /ok 1 - runs longer than the default timeout and passes/);
    assert.match(out, /not ok 1 - hangs on a child process that never exits[\s\S]*?test timed out after 1000ms/);
    assert.match(out, /ok 2 - still runs after the hang/);
    assert.match(out, /not ok 3 - a hook that hangs[\s\S]*?failed running before hook/);
    const pid = /child pid (\d+)/.exec(out)?.[1];
    assert.ok(pid, out);
    assert.match(out, new RegExp(`runner-guard: killed pid ${pid} left running by this test file: sleep 3600`));
    // Gone, or a zombie waiting for whoever adopted it to reap it: either way no longer running.
    const state = existsSync(`/proc/${pid}`) ? readFileSync(`/proc/${pid}/stat`, 'utf8').replace(/^.*\) /s, '')[0] : 'gone';
    assert.ok(state === 'gone' || state === 'Z', `the child is no longer running (state ${state})`);
  });
});
