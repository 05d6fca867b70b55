import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { KmsTestClient } from '../support/kms-client';
import { PluginProcess, eventually, goPluginCommand, tempSocketDir } from '../support/plugin-process';
import { PluginFixture } from '../support/plugin-fixture';
import { TcpForwarder } from '../support/tcp-forwarder';
import { RealServer } from '../support/real-server';
import { markedPlaintext } from '../support/leak-capture';

/**
 * Our plugin beside the real Go plugin v1.4.0 (built from its release source
 * by `npm run tools`), both on one real OpenBao: what either wrote, the other
 * reads, and the switch of docs/migrating.md works under a live client.
 */
let bao: RealServer;
const plugins = new PluginFixture();

before(async () => {
  bao = await RealServer.start();
});
after(async () => {
  await plugins.stopAll();
  await bao.close();
});

/** The Go plugin with the seed's flags; it takes -health-port as a bare port number. */
async function startGoPlugin(socket: string): Promise<PluginProcess> {
  const healthPort = await TcpForwarder.freePort();
  const p = plugins.adopt(
    new PluginProcess(
      [`-vault-address=${bao.url}`, '-auth-method=token', `-token=${bao.kmsToken}`, `-socket=unix://${socket}`, `-health-port=${healthPort}`, '-disable-v1=false'],
      {},
      undefined,
      goPluginCommand(),
    ),
  );
  await p.waitForSocket(socket, 20_000);
  return p;
}

function startOurs(socket: string) {
  return plugins.start([`-vault-address=${bao.url}`, '-auth-method=token', `-token=${bao.kmsToken}`, '-disable-v1=false'], { socket });
}

describe('interoperability with the Go plugin v1.4.0 on real OpenBao', () => {
  it('each plugin decrypts what the other encrypted, over KMS v2 and v1, with the same key_id', async () => {
    await bao.reset();
    const goSocket = join(tempSocketDir(), 'vaultkms.socket');
    await startGoPlugin(goSocket);
    const go = new KmsTestClient(goSocket);
    const { client: ours } = await startOurs(join(tempSocketDir(), 'vaultkms.socket'));
    try {
      await eventually(() => go.status(), (s) => s.healthz === 'ok', 15_000);
      const goStatus = await go.status();
      const ourStatus = await ours.status();
      assert.equal(ourStatus.key_id, goStatus.key_id, 'the same key_id: a switch is not a rotation to kube-apiserver');

      const fromGo = await go.encrypt(markedPlaintext(11), 'uid-go');
      const fromUs = await ours.encrypt(markedPlaintext(12), 'uid-ours');
      assert.equal(fromUs.key_id, fromGo.key_id);
      assert.match(fromGo.ciphertext.toString(), /^vault:v1:/);
      assert.match(fromUs.ciphertext.toString(), /^vault:v1:/);
      assert.deepEqual((await ours.decrypt(fromGo.ciphertext, fromGo.key_id)).plaintext, markedPlaintext(11));
      assert.deepEqual((await go.decrypt(fromUs.ciphertext, fromUs.key_id)).plaintext, markedPlaintext(12));

      const v1FromGo = await go.v1Encrypt(markedPlaintext(13));
      const v1FromUs = await ours.v1Encrypt(markedPlaintext(14));
      assert.deepEqual((await ours.v1Decrypt(v1FromGo.cipher)).plain, markedPlaintext(13));
      assert.deepEqual((await go.v1Decrypt(v1FromUs.cipher)).plain, markedPlaintext(14));

      // After a rotation both report the new key_id, and both still read the old data.
      await bao.rotateKey();
      await eventually(() => ours.status(), (s) => s.key_id === '2', 10_000);
      assert.equal((await go.status()).key_id, '2');
      assert.deepEqual((await go.decrypt(fromUs.ciphertext)).plaintext, markedPlaintext(12));
      assert.deepEqual((await ours.decrypt(fromGo.ciphertext)).plaintext, markedPlaintext(11));
    } finally {
      go.close();
    }
  });

  it('replaces the Go plugin on the same socket path while a client stays connected, and reads everything it wrote', async () => {
    await bao.reset();
    const socket = join(tempSocketDir(), 'vaultkms.socket');
    const goProcess = await startGoPlugin(socket);
    // One long-lived client, as kube-apiserver keeps one connection to its KMS endpoint.
    const apiserver = new KmsTestClient(socket);
    try {
      await eventually(() => apiserver.status(), (s) => s.healthz === 'ok', 15_000);
      const written = [];
      for (let i = 0; i < 20; i++) written.push({ i, ...(await apiserver.encrypt(markedPlaintext(100 + i), `uid-${i}`)) });
      const v1Written = await apiserver.v1Encrypt(markedPlaintext(200));

      // The kubelet replaces the static Pod: the Go plugin gets SIGTERM, ours starts on the same path.
      goProcess.signal('SIGTERM');
      await goProcess.exited;
      const leftBehind = existsSync(socket);
      const { p: oursProcess } = await plugins.start([`-vault-address=${bao.url}`, '-auth-method=token', `-token=${bao.kmsToken}`, '-disable-v1=false'], { socket });
      if (leftBehind) await oursProcess.waitForLog((l) => /stale/i.test(String(l.message)));

      // The same client reconnects by itself and reads everything the Go plugin wrote.
      await eventually(() => apiserver.status(), (s) => s.healthz === 'ok', 15_000);
      for (const w of written) assert.deepEqual((await apiserver.decrypt(w.ciphertext, w.key_id)).plaintext, markedPlaintext(100 + w.i));
      assert.deepEqual((await apiserver.v1Decrypt(v1Written.cipher)).plain, markedPlaintext(200));
      assert.equal((await apiserver.status()).key_id, written[0].key_id);
    } finally {
      apiserver.close();
    }
  });

  it('switching back: the Go plugin reads what ours wrote', async () => {
    await bao.reset();
    const socket = join(tempSocketDir(), 'vaultkms.socket');
    const { p: ours, client } = await startOurs(socket);
    const written = await client.encrypt(markedPlaintext(300));
    client.close();
    await ours.stop();
    assert.equal(existsSync(socket), false, 'ours removes its own socket on SIGTERM');
    await startGoPlugin(socket);
    const go = new KmsTestClient(socket);
    try {
      await eventually(() => go.status(), (s) => s.healthz === 'ok', 15_000);
      assert.deepEqual((await go.decrypt(written.ciphertext, written.key_id)).plaintext, markedPlaintext(300));
    } finally {
      go.close();
    }
  });
});
