import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, chownSync, existsSync, lstatSync, mkdirSync } from 'node:fs';
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
async function startGoPlugin(socket: string, extra: readonly string[] = []): Promise<PluginProcess> {
  const healthPort = await TcpForwarder.freePort();
  const p = plugins.adopt(
    new PluginProcess(
      [`-vault-address=${bao.url}`, '-auth-method=token', `-token=${bao.kmsToken}`, `-socket=unix://${socket}`, `-health-port=${healthPort}`, '-disable-v1=false', ...extra],
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

  const asRoot = process.getuid?.() === 0 ? false : 'needs root: the Go plugin runs as root, ours as uid 65532 (the manifests)';
  const NONROOT = { uid: 65532, gid: 65532 };

  /** /opt/kms as docs/migrating.md step 1 leaves it: owned by 65532, mode 0700, below a directory anyone may traverse. */
  function kmsDirectoryOwnedBy65532(): string {
    const base = tempSocketDir();
    chmodSync(base, 0o711);
    const dir = join(base, 'kms');
    mkdirSync(dir, { mode: 0o700 });
    chownSync(dir, NONROOT.uid, NONROOT.gid);
    return join(dir, 'vaultkms.socket');
  }

  /** Ours as the manifests run it: uid 65532, -health-port on loopback. */
  function startOursAs65532(socket: string, extra: readonly string[] = []): PluginProcess {
    return plugins.adopt(
      new PluginProcess(
        [`-vault-address=${bao.url}`, '-auth-method=token', `-token=${bao.kmsToken}`, `-socket=unix://${socket}`, '-health-port=127.0.0.1:0', '-health-check-interval=1s', '-disable-v1=false', ...extra],
        {},
        undefined,
        undefined,
        NONROOT,
      ),
    );
  }

  it('migration after the Go plugin was killed: its root-owned socket is refused with the command to run, and replaced with -force-socket-overwrite (ours as uid 65532)', { skip: asRoot }, async () => {
    await bao.reset();
    const socket = kmsDirectoryOwnedBy65532();
    const goProcess = await startGoPlugin(socket);
    const apiserver = new KmsTestClient(socket);
    try {
      await eventually(() => apiserver.status(), (s) => s.healthz === 'ok', 15_000);
      const written = await apiserver.encrypt(markedPlaintext(400), 'uid-400');
      const v1Written = await apiserver.v1Encrypt(markedPlaintext(401));
      // Killed, not stopped (the kubelet's SIGKILL after the grace period, a node crash): root's socket stays.
      goProcess.signal('SIGKILL');
      await goProcess.exited;
      const left = lstatSync(socket);
      assert.ok(left.isSocket() && left.uid === 0, 'the Go plugin left its root-owned socket');

      // Without the flag: a clear refusal naming the exact command; the socket is untouched.
      const refused = startOursAs65532(socket);
      assert.equal(await refused.exited, 1, refused.stdout.join('\n'));
      const error = String(refused.logs().find((l) => l.message === 'cannot serve on the socket')?.error);
      assert.ok(error.includes(`rm ${socket}`), error);
      assert.match(error, /-force-socket-overwrite/);
      assert.equal(lstatSync(socket).ino, left.ino, 'the socket is kept without -force-socket-overwrite');

      // With the flag, as docs/migrating.md's switching step sets it: replaced, and serving everything the Go plugin wrote.
      const ours = startOursAs65532(socket, ['-force-socket-overwrite']);
      await ours.waitForLog((l) => String(l.message).startsWith("replaced another user's socket that no process listens on"), 20_000);
      await eventually(() => apiserver.status(), (s) => s.healthz === 'ok', 20_000);
      assert.equal(lstatSync(socket).uid, NONROOT.uid);
      assert.deepEqual((await apiserver.decrypt(written.ciphertext, written.key_id)).plaintext, markedPlaintext(400));
      assert.deepEqual((await apiserver.v1Decrypt(v1Written.cipher)).plain, markedPlaintext(401));
    } finally {
      apiserver.close();
    }
  });

  it('rollback Go -> ours -> Go on one socket path and key, v1 and v2: every blob decryptable at every step; the Go plugin refuses our -health-port=127.0.0.1:<port>', { skip: asRoot }, async () => {
    await bao.reset();
    const socket = kmsDirectoryOwnedBy65532();
    const apiserver = new KmsTestClient(socket);
    const blobs: { from: string; v2: { ciphertext: Buffer; key_id: string }; v1: Buffer; plain: Buffer }[] = [];
    const writeAndReadAll = async (from: string) => {
      await eventually(() => apiserver.status(), (s) => s.healthz === 'ok', 20_000);
      const plain = markedPlaintext(500 + blobs.length);
      blobs.push({ from, v2: await apiserver.encrypt(plain, `uid-${from}`), v1: (await apiserver.v1Encrypt(plain)).cipher, plain });
      for (const b of blobs) {
        assert.deepEqual((await apiserver.decrypt(b.v2.ciphertext, b.v2.key_id)).plaintext, b.plain, `${from} reads the v2 blob ${b.from} wrote`);
        assert.deepEqual((await apiserver.v1Decrypt(b.v1)).plain, b.plain, `${from} reads the v1 blob ${b.from} wrote`);
      }
    };
    try {
      const go = await startGoPlugin(socket, ['-force-socket-overwrite']);
      await writeAndReadAll('go');
      go.signal('SIGKILL'); // the worst case: its socket stays
      await go.exited;

      const ours = startOursAs65532(socket, ['-force-socket-overwrite']);
      await writeAndReadAll('ours');
      ours.signal('SIGKILL'); // again the worst case: our socket (uid 65532, 0600) stays
      await ours.exited;

      // Our manifests' loopback form is fatal for the Go plugin: it binds ":" + the value.
      const port = await TcpForwarder.freePort();
      const trap = plugins.adopt(
        new PluginProcess(
          [`-vault-address=${bao.url}`, '-auth-method=token', `-token=${bao.kmsToken}`, `-socket=unix://${socket}`, `-health-port=127.0.0.1:${port}`, '-force-socket-overwrite'],
          {},
          undefined,
          goPluginCommand(),
        ),
      );
      assert.equal(await trap.exited, 1, 'the Go plugin v1.4.0 exits on -health-port=127.0.0.1:<port>');
      assert.match([...trap.stdout, ...trap.stderr].join('\n'), /Failed to start health check handlers/);

      // docs/migrating.md's rollback: the Go image, -health-port=<port>, -force-socket-overwrite (it deletes our stale socket).
      await startGoPlugin(socket, ['-force-socket-overwrite']);
      await writeAndReadAll('go again');
    } finally {
      apiserver.close();
    }
  });
});
