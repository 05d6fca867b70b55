import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { KmsTestClient } from '../support/kms-client';
import { PluginProcess, eventually, tempSocketDir } from '../support/plugin-process';
import { OpenBaoServer } from '../support/openbao';
import { makeTestPki, type TestPki } from '../support/test-pki';
import { markedPlaintext } from '../support/leak-capture';

/**
 * A Vault whose certificate the plugin does not trust, at run time (issue 23
 * item 13): /health, Status, the log and the failed request all say so and
 * name -vault-ca-cert, as `check` does, instead of "unreachable (CODE)".
 */
let pki: TestPki;
let otherPki: TestPki;
let bao: OpenBaoServer;
const started: PluginProcess[] = [];
const clients: KmsTestClient[] = [];

before(async () => {
  pki = makeTestPki();
  otherPki = makeTestPki();
  bao = await OpenBaoServer.start({ mode: 'server', tls: pki });
});
after(async () => {
  clients.forEach((c) => c.close());
  await Promise.all(started.map((p) => p.stop()));
  await bao.close();
  rmSync(pki.dir, { recursive: true, force: true });
  rmSync(otherPki.dir, { recursive: true, force: true });
});

const NOT_TRUSTED = /Vault's certificate is not trusted \([A-Z_]+\): give -vault-ca-cert \(VAULT_KMS_VAULT_CACERT, VAULT_CACERT\) with the CA that issued it/;

describe('a Vault certificate the plugin does not trust (real OpenBao, TLS listener)', () => {
  for (const [name, caArgs] of [
    ['no CA given', [] as string[]],
    ['another CA given', [`-vault-ca-cert=${'OTHER'}`]],
  ] as const) {
    it(`${name}: /health, Status, the log and Encrypt say the certificate is not trusted and name -vault-ca-cert`, async () => {
      const socket = join(tempSocketDir(), 'vaultkms.socket');
      const args = caArgs.map((a) => a.replace('OTHER', otherPki.caFile));
      const p = new PluginProcess([`-vault-address=${bao.url}`, '-auth-method=token', `-token=${bao.kmsToken}`, `-socket=unix://${socket}`, '-health-port=127.0.0.1:0', '-health-check-interval=1s', ...args]);
      started.push(p);
      await p.waitForSocket(socket, 20_000);
      const healthUrl = `http://127.0.0.1:${await p.healthPort()}/health`;
      const client = new KmsTestClient(socket);
      clients.push(client);

      const body = await eventually(async () => (await fetch(healthUrl)).text(), (t) => NOT_TRUSTED.test(t), 20_000, 200);
      assert.ok(body.startsWith(`no Vault address is usable: ${bao.url} Vault's certificate is not trusted`), body);
      assert.match((await client.status()).healthz, NOT_TRUSTED);
      const failed = await p.waitForLog((l) => l.message === 'health check failed');
      assert.match(String(failed.reason), NOT_TRUSTED);
      await assert.rejects(client.encrypt(markedPlaintext(1)), NOT_TRUSTED);
      const everything = [...p.stdout, ...p.stderr].join('\n');
      assert.doesNotMatch(everything, /unreachable \((UNABLE_TO_VERIFY|SELF_SIGNED|DEPTH_ZERO)/);
    });
  }
});
