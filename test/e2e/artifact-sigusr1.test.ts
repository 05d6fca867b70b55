/**
 * The packaged artifact never opens Node's inspector on SIGUSR1 (issue 10, item 1): the SEA configuration bakes
 * `--disable-sigusr1` into the executable (scripts/build-artifact.mjs, execArgv). Runs against the artifact
 * (KMS_PLUGIN_BIN, as `npm test`'s second pass sets it); the plain CLI's own handling is src's business.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { PluginProcess, sleep, tempSocketDir } from '../support/plugin-process';
import { KmsTestClient } from '../support/kms-client';

describe('packaged artifact and SIGUSR1', () => {
  it('ignores SIGUSR1 and NODE_OPTIONS=--inspect: no inspector, keeps serving', { skip: !process.env.KMS_PLUGIN_BIN && 'runs against the packaged artifact (KMS_PLUGIN_BIN)' }, async () => {
    const socket = join(tempSocketDir(), 'vaultkms.socket');
    // execArgvExtension "none": NODE_OPTIONS cannot add flags to the executable either.
    const p = new PluginProcess(['-dev', `-socket=unix://${socket}`, '-health-port=127.0.0.1:0'], { NODE_OPTIONS: '--inspect=127.0.0.1:0' });
    try {
      await p.waitForSocket(socket);
      await p.healthPort();
      for (let i = 0; i < 3; i++) {
        p.signal('SIGUSR1');
        await sleep(300);
      }
      const client = new KmsTestClient(socket);
      assert.equal((await client.status()).healthz, 'ok', 'still serving after SIGUSR1');
      client.close();
      const output = [...p.stdout, ...p.stderr].join('\n');
      assert.doesNotMatch(output, /Debugger listening|inspector/i);
    } finally {
      assert.equal(await p.stop(), 0, 'clean exit on SIGTERM after SIGUSR1');
    }
  });
});
