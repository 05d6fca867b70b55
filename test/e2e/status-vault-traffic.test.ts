import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { KmsTestClient } from '../support/kms-client';
import { RealServer } from '../support/real-server';
import { PluginProcess, eventually, tempSocketDir } from '../support/plugin-process';
import { PluginFixture } from '../support/plugin-fixture';
import { markedPlaintext } from '../support/leak-capture';
import { FaultProxy } from '../support/fault-proxy';

/**
 * Invariant 7 (docs/invariants.md): Status, /live and /health make no Vault request; they read the state of the
 * background check. Counted twice on real OpenBao, for every kind of request, not only Transit encrypts: by a proxy
 * the plugin sends everything through (it sees sys/health too, which no audit log records), and by OpenBao's audit log
 * (which sees what reached OpenBao, whatever the path: token lookups, key reads, logins, Transit).
 */
let bao: RealServer;
let proxy: FaultProxy;
const plugins = new PluginFixture();
before(async () => {
  bao = await RealServer.start();
  proxy = await FaultProxy.start(bao.url);
});
after(async () => {
  await plugins.stopAll();
  await proxy?.close();
  await bao?.close();
});

/** Every request the plugin made since the last resetStats(), by kind (the root token's are left out). */
function total(stats: Record<string, number>): number {
  return Object.entries(stats).filter(([k]) => !k.endsWith('.batch') && k !== 'transit.batch_items').reduce((n, [, v]) => n + v, 0);
}

describe('Status, /live and /health never call Vault (invariant 7, real OpenBao audit log)', () => {
  it('300 Status and 600 health-endpoint calls make no Vault request beyond the background check; one Encrypt makes one', async () => {
    const dir = tempSocketDir();
    const socket = join(dir, 'vaultkms.socket');
    // The background check and the token check run once an hour: after the first check, the background check's share
    // of the window below is zero, so every request in it would be one that Status or an endpoint caused.
    const p = plugins.adopt(new PluginProcess([
      `-vault-address=${proxy.url}`, '-auth-method=approle', `-approle-role-id=${bao.roleId}`, `-approle-secret-id=${bao.secretId}`,
      `-socket=unix://${socket}`, '-health-port=127.0.0.1:0', '-health-check-interval=1h', '-token-refresh-interval=1h',
    ]));
    await p.waitForSocket(socket);
    const port = await p.healthPort();
    const client = new KmsTestClient(socket);
    try {
      await eventually(() => client.status(), (s) => s.healthz === 'ok', 20_000);
      await eventually(() => fetch(`http://127.0.0.1:${port}/health`), (r) => r.status === 200, 20_000);
      assert.ok(proxy.take().length > 0, 'the plugin reaches OpenBao through the proxy');
      bao.resetStats();
      for (let round = 0; round < 100; round++) {
        for (let i = 0; i < 3; i++) assert.equal((await client.status()).healthz, 'ok');
        for (const path of ['/health', '/health?verbose', '/healthz', '/readyz', '/live', '/livez']) {
          const res = await fetch(`http://127.0.0.1:${port}${path}`);
          assert.equal(res.status, 200, path);
          await res.text();
        }
      }
      const during = bao.stats();
      assert.deepEqual(proxy.take(), [], 'requests sent to Vault while answering Status and the health endpoints');
      assert.equal(total(during), 0, `Vault requests while answering Status and the health endpoints: ${JSON.stringify(during)}`);

      // The count is live: the audit log shows the plugin's own requests at once.
      bao.resetStats();
      await client.encrypt(markedPlaintext(700), 'uid-invariant-7');
      const encrypt = bao.stats();
      assert.deepEqual(encrypt, { 'transit.encrypt': 1 }, `one Encrypt, one request: ${JSON.stringify(encrypt)}`);
      assert.deepEqual(proxy.take(), ['POST /v1/transit/encrypt/kms']);
    } finally {
      client.close();
    }
  });
});
