import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { KmsTestClient } from '../support/kms-client';
import { PluginProcess, eventually, sleep, tempSocketDir } from '../support/plugin-process';
import { PLAINTEXT_MARKER, markedPlaintext } from '../support/leak-capture';
import { backendNames, startBackend, type VaultBackend } from '../support/vault-backends';

/**
 * Part of the secret-leak suite (issue 10): after traffic, a heap snapshot of
 * the plugin holds no plaintext it served. The plaintexts cross the plugin as
 * base64 strings in Vault's JSON (sent on Encrypt, received on Decrypt), and
 * V8 strings are what a heap snapshot contains; the snapshot is taken after a
 * full garbage collection, so it shows exactly what the plugin still holds.
 * (Buffer contents live outside the V8 heap and are not in a snapshot; that
 * no Buffer is kept is covered by test/unit/request-sharing.test.ts.)
 */
let vault: VaultBackend;
let plugin: PluginProcess | undefined;
before(async () => {
  // OpenBao unless KMS_TEST_VAULT_BACKENDS leaves it out.
  vault = await startBackend(backendNames().includes('openbao') ? 'openbao' : 'vault');
});
after(async () => {
  await plugin?.stop();
  await vault.close();
});

describe('heap snapshot after traffic', () => {
  it('contains no plaintext served, raw or base64', async () => {
    const dir = tempSocketDir();
    const socket = join(dir, 'vaultkms.socket');
    // --heapsnapshot-signal writes Heap.*.heapsnapshot into the working directory; NODE_OPTIONS reaches the artifact too.
    plugin = new PluginProcess(
      [`-vault-address=${vault.url}`, '-auth-method=token', `-token=${vault.kmsToken}`, `-socket=unix://${socket}`, '-health-port=127.0.0.1:0', '-health-check-interval=1s'],
      { NODE_OPTIONS: '--heapsnapshot-signal=SIGWINCH' },
      dir,
    );
    await plugin.waitForSocket(socket);
    const c = new KmsTestClient(socket);
    await eventually(() => c.status(), (s) => s.healthz === 'ok', 15_000);
    const served: Buffer[] = [];
    for (let i = 0; i < 100; i++) {
      // Marked and random plaintexts, so their base64 forms are distinctive at any alignment.
      const pt = i % 2 === 0 ? markedPlaintext(i) : Buffer.concat([Buffer.from('heap-probe-'), randomBytes(24)]);
      served.push(pt);
      const enc = await c.encrypt(pt, `uid-${i}`);
      assert.deepEqual((await c.decrypt(enc.ciphertext, enc.key_id)).plaintext, pt);
    }
    await Promise.all(served.slice(0, 40).map(async (pt) => c.decrypt((await c.encrypt(pt)).ciphertext)));
    await sleep(1500); // let the background check run once more with its own random data
    plugin.signal('SIGWINCH');
    const file = await eventually(
      async () => readdirSync(dir).find((f) => f.endsWith('.heapsnapshot')),
      (f) => f !== undefined,
      30_000,
      100,
    );
    // The snapshot is written on the main thread: once Status answers again, it is complete.
    await c.status(30_000);
    c.close();
    const path = join(dir, file as string);
    assert.ok(statSync(path).size > 1_000_000, 'a real snapshot');
    const snapshot = readFileSync(path, 'latin1');
    assert.ok(snapshot.includes('"strings":['), 'the snapshot has its string table');
    // Positive control: a string the plugin must hold (its Vault token) is found, so an absence below means something.
    assert.ok(snapshot.includes(vault.kmsToken), 'the token in use is in the snapshot');
    const found: string[] = [];
    if (snapshot.includes(PLAINTEXT_MARKER)) found.push('raw marker');
    for (const pt of served) {
      const b64 = pt.toString('base64');
      if (snapshot.includes(b64)) found.push(`base64 of ${pt.toString('hex').slice(0, 12)}…`);
      if (snapshot.includes(pt.toString('hex'))) found.push(`hex of ${pt.toString('hex').slice(0, 12)}…`);
    }
    assert.deepEqual(found, []);
  });
});
