import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { status } from '@grpc/grpc-js';
import { ProxiedServer } from '../support/fault-proxy';
import { KmsTestClient } from '../support/kms-client';
import { PluginProcess, eventually, sleep, tempSocketDir } from '../support/plugin-process';
import { runLoad, UNAVAILABLE_OR_DEADLINE } from '../support/load';
import { PluginFixture } from '../support/plugin-fixture';

/**
 * Faults injected (by a fault proxy in front of real OpenBao) while the built CLI
 * serves real traffic; tokens and secret IDs expire on real short TTLs. Every case: the process stays up, every request is answered within
 * its deadline with the right code, health tells the truth, and service
 * recovers by itself when the fault clears.
 */
let vault: ProxiedServer;
const plugins = new PluginFixture();
const FAULTS_TRIED: string[] = [];

before(async () => {
  vault = await ProxiedServer.start();
});
after(async () => {
  await plugins.stopAll();
  await vault.close();
  process.stdout.write(`# faults tried: ${FAULTS_TRIED.length} (${FAULTS_TRIED.join(', ')})\n`);
});

function start(auth: string[] = ['-auth-method=token', `-token=${vault.kmsToken}`]) {
  return plugins.start([`-vault-address=${vault.url}`, ...auth, '-token-refresh-interval=1s']);
}

async function assertAlive(p: PluginProcess, client: KmsTestClient) {
  assert.equal(p.stdout.length > 0 && (await Promise.race([p.exited.then(() => 'exited'), sleep(10).then(() => 'running')])), 'running');
  assert.equal((await client.status()).version, 'v2');
}

async function recovers(client: KmsTestClient) {
  await eventually(() => client.status(), (s) => s.healthz === 'ok', 20_000);
  const enc = await client.encrypt(Buffer.alloc(32, 9));
  assert.deepEqual((await client.decrypt(enc.ciphertext, enc.key_id)).plaintext, Buffer.alloc(32, 9));
}

describe('Vault faults under traffic', () => {
  it('sealed mid-traffic, then unsealed: only UNAVAILABLE/DEADLINE answers, none late, none corrupted, recovers', async () => {
    FAULTS_TRIED.push('seal mid-traffic');
    await vault.reset();
    const { p, client } = await start();
    const load = runLoad(client, { workers: 20, deadlineMs: 1000 });
    await sleep(300);
    await vault.seal();
    await eventually(() => client.status(), (s) => /sealed/.test(s.healthz), 10_000);
    await vault.unseal();
    await recovers(client);
    const r = await load.stop();
    assert.ok(r.ok > 0);
    assert.equal(r.corrupted, 0);
    assert.equal(r.late, 0);
    for (const code of Object.keys(r.byCode).map(Number)) assert.ok(UNAVAILABLE_OR_DEADLINE.has(code), `unexpected code ${code}`);
    await assertAlive(p, client);
  });

  for (const [name, rule] of [
    ['500 burst', { kind: 'status', status: 500, count: 2 }],
    ['502 burst', { kind: 'status', status: 502, count: 2 }],
    ['503 burst', { kind: 'status', status: 503, count: 2 }],
    ['412 (index not yet satisfied)', { kind: 'status', status: 412, count: 2 }],
    ['429 with Retry-After', { kind: 'status', status: 429, retryAfter: 1, count: 1 }],
    ['connection reset', { kind: 'reset', count: 2 }],
    ['truncated JSON', { kind: 'truncate', count: 1 }],
  ] as const) {
    it(`${name}: retried within the deadline, no failed request`, async () => {
      FAULTS_TRIED.push(name);
      await vault.reset();
      const { p, client } = await start();
      vault.addFault({ path: 'transit/(en|de)crypt', ...rule });
      const enc = await client.encrypt(Buffer.alloc(32, 1), 'uid', 3000);
      assert.deepEqual((await client.decrypt(enc.ciphertext, enc.key_id, {}, 3000)).plaintext, Buffer.alloc(32, 1));
      await assertAlive(p, client);
    });
  }

  it('a standby answering 429 for good: UNAVAILABLE within the deadline, unhealthy, recovers', async () => {
    FAULTS_TRIED.push('standby 429');
    await vault.reset();
    const { p, client } = await start();
    vault.addFault({ path: '.*', kind: 'status', status: 429 });
    await assert.rejects(client.encrypt(Buffer.alloc(32), 'uid-429', 2000), (e: { code: number }) => UNAVAILABLE_OR_DEADLINE.has(e.code));
    // Within the deadline as the plugin reports it: its own answer, Vault's 429 or its deadline, not a later timeout.
    const failed = await p.waitForLog((l) => l.message === 'v2 encrypt failed' && l.uid === 'uid-429');
    assert.ok(['unavailable', 'deadline-exceeded'].includes(failed.error_kind as string), JSON.stringify(failed));
    await eventually(() => client.status(), (s) => s.healthz !== 'ok', 10_000);
    vault.clearFaults();
    await recovers(client);
    await assertAlive(p, client);
  });

  it('a standby redirecting (307) to the active node: followed', async () => {
    FAULTS_TRIED.push('307 redirect');
    await vault.reset();
    const { client } = await start();
    const base = vault.url;
    vault.addFault({ path: 'transit/encrypt', kind: 'redirect', location: base, count: 1 });
    assert.equal((await client.encrypt(Buffer.alloc(32))).key_id, '1');
  });

  it('responses slower than the deadline: DEADLINE_EXCEEDED on time, bounded Vault work, no pile-up', async () => {
    FAULTS_TRIED.push('slow responses');
    await vault.reset();
    const { p, client } = await start();
    vault.addFault({ path: 'transit/(en|de)crypt', kind: 'hang' });
    vault.resetStats();
    const results = await Promise.allSettled(Array.from({ length: 200 }, (_, i) => client.encrypt(Buffer.alloc(32, i % 250), `u${i}`, 400)));
    assert.ok(results.every((r) => r.status === 'rejected' && (r.reason as { code: number }).code === status.DEADLINE_EXCEEDED));
    // No pile-up: the plugin ended each of the 200 (its log says so) at its deadline, or when the caller gave up at
    // the same deadline a moment earlier (the client's timer and the plugin's race): none left waiting on Vault.
    await eventually(async () => p.logs().filter((l) => l.message === 'v2 encrypt failed' && /^u\d+$/.test(String(l.uid))), (ls) => ls.length === 200);
    const kinds = new Set(p.logs().filter((l) => l.message === 'v2 encrypt failed' && /^u\d+$/.test(String(l.uid))).map((l) => l.error_kind));
    assert.deepEqual([...kinds].filter((k) => k !== 'deadline-exceeded' && k !== 'cancelled'), []);
    const sent = vault.stats()['transit.encrypt'] ?? 0;
    assert.ok(sent <= 8 * 3, `Vault saw ${sent} requests for 200 callers: in-flight work is bounded`);
    vault.clearFaults();
    await recovers(client);
    await assertAlive(p, client);
  });

  it('valid JSON of the wrong shape: INTERNAL, not UNKNOWN, and the process stays up', async () => {
    FAULTS_TRIED.push('wrong-shape JSON');
    await vault.reset();
    const { p, client } = await start();
    vault.addFault({ path: 'transit/encrypt', kind: 'wrong-shape' });
    await assert.rejects(client.encrypt(Buffer.alloc(32)), (e: { code: number }) => e.code === status.INTERNAL);
    vault.clearFaults();
    await recovers(client);
    await assertAlive(p, client);
  });
});

describe('credential faults', () => {
  it('token revoked (token auth): PERMISSION_DENIED, unhealthy with the reason in the log', async () => {
    FAULTS_TRIED.push('token revoked');
    await vault.reset();
    const t = await vault.bao.createToken({ policies: ['kms'], no_default_policy: true, ttl: '1h' });
    const { p, client } = await start(['-auth-method=token', `-token=${t.token}`]);
    await vault.bao.mustOk('POST', 'auth/token/revoke', { token: t.token });
    await assert.rejects(client.encrypt(Buffer.alloc(32)), (e: { code: number }) => e.code === status.PERMISSION_DENIED);
    await eventually(() => client.status(), (s) => /token/i.test(s.healthz), 10_000);
    await p.waitForLog((l) => /health check failed/.test(String(l.message)) && /token/.test(String(l.reason)));
    await assertAlive(p, client);
  });

  it('AppRole token at its max TTL: zero failed requests across the expiry boundary', async () => {
    FAULTS_TRIED.push('token at max TTL');
    await vault.reset();
    // Real tokens that reach their max TTL every 3 s, faster than a 1 s check with backoff can always follow.
    const role = await vault.bao.createAppRole('short', { token_ttl: '2s', token_max_ttl: '3s' });
    const { p, client } = await start(['-auth-method=approle', `-approle-role-id=${role.roleId}`, `-approle-secret-id=${role.secretId}`]);
    vault.resetStats();
    const load = runLoad(client, { workers: 4, deadlineMs: 3000 });
    await sleep(10_000); // several max-TTL expiries in a row
    const r = await load.stop();
    assert.ok(r.ok > 10, `${r.ok} round trips`);
    assert.deepEqual(r.byCode, {}, 'no request failed');
    assert.equal(r.corrupted, 0);
    assert.ok((vault.stats()['approle.login'] ?? 0) >= 2, 'the plugin logged in again');
    await assertAlive(p, client);
  });

  it('AppRole secret ID expired: unhealthy with a clear reason, recovers when a new one is provisioned', async () => {
    FAULTS_TRIED.push('secret ID expired');
    await vault.reset();
    const role = await vault.bao.createAppRole('expiring', { token_ttl: '2s', token_max_ttl: '2s', secret_id_ttl: '3s' });
    const dir = tempSocketDir();
    const { writeFileSync } = await import('node:fs');
    const secretFile = join(dir, 'secret-id');
    writeFileSync(secretFile, role.secretId, { mode: 0o400 });
    const { p, client } = await start(['-auth-method=approle', `-approle-role-id=${role.roleId}`, `-approle-secret-id-file=${secretFile}`]);
    await sleep(4000); // token and secret ID both expired
    await eventually(() => client.status(), (s) => /login/i.test(s.healthz), 15_000);
    await p.waitForLog((l) => /invalid role or secret ID/.test(JSON.stringify(l)));
    await vault.bao.mustOk('POST', 'auth/approle/role/expiring', { secret_id_ttl: 0 });
    const fresh = (await vault.bao.mustOk('POST', 'auth/approle/role/expiring/secret-id', {})).json.data.secret_id as string;
    const { rmSync } = await import('node:fs');
    rmSync(secretFile);
    writeFileSync(secretFile, fresh, { mode: 0o400 });
    await recovers(client);
    await assertAlive(p, client);
  });
});

describe('transit key faults', () => {
  it('key missing, then deleted and recreated: clear errors, no crash', async () => {
    FAULTS_TRIED.push('key deleted and recreated');
    await vault.reset();
    const { p, client } = await start();
    const old = await client.encrypt(Buffer.alloc(32, 4));
    await vault.rotateKey();
    await eventually(() => client.status(), (s) => s.key_id === '2', 10_000);
    await vault.bao.api('POST', 'transit/keys/kms/config', { deletion_allowed: true });
    assert.equal((await vault.bao.api('DELETE', 'transit/keys/kms')).status, 204);
    await eventually(() => client.status(), (s) => /not found/.test(s.healthz), 10_000);
    await assert.rejects(client.decrypt(old.ciphertext, old.key_id), (e: { code: number }) => e.code === status.FAILED_PRECONDITION || e.code === status.INVALID_ARGUMENT);
    await vault.bao.api('POST', 'transit/keys/kms', {});
    await eventually(() => client.status(), (s) => /deleted and recreated/.test(s.healthz), 10_000);
    assert.equal((await client.status()).key_id, '2', 'key_id never goes backwards');
    await assertAlive(p, client);
  });

  it('min_decryption_version raised: old ciphertexts get INVALID_ARGUMENT, new ones work', async () => {
    FAULTS_TRIED.push('min_decryption_version raised');
    await vault.reset();
    const { p, client } = await start();
    const old = await client.encrypt(Buffer.alloc(32, 5));
    await vault.rotateKey();
    await eventually(() => client.status(), (s) => s.key_id === '2', 10_000);
    await vault.bao.api('POST', 'transit/keys/kms/config', { min_decryption_version: 2 });
    await assert.rejects(client.decrypt(old.ciphertext, old.key_id), (e: { code: number; details: string }) => e.code === status.INVALID_ARGUMENT && /too old/.test(e.details));
    const fresh = await client.encrypt(Buffer.alloc(32, 6));
    assert.deepEqual((await client.decrypt(fresh.ciphertext, fresh.key_id)).plaintext, Buffer.alloc(32, 6));
    await assertAlive(p, client);
  });
});

describe('process faults', () => {
  it('SIGKILL mid-traffic, restart: starts cleanly over its own stale socket and clients reconnect', async () => {
    FAULTS_TRIED.push('SIGKILL and restart');
    await vault.reset();
    const first = await start();
    const load = runLoad(first.client, { workers: 10, deadlineMs: 1000 });
    await sleep(300);
    first.p.signal('SIGKILL');
    await first.p.exited;
    const second = plugins.adopt(new PluginProcess([`-vault-address=${vault.url}`, '-auth-method=token', `-token=${vault.kmsToken}`, `-socket=unix://${first.socket}`, '-health-port=127.0.0.1:0', '-health-check-interval=1s']));
    await second.waitForLog((l) => l.message === 'removed stale socket left by a previous run');
    await eventually(() => first.client.status(), (s) => s.healthz === 'ok', 20_000);
    const r = await load.stop();
    assert.equal(r.corrupted, 0);
    assert.ok(r.ok > 0);
    const enc = await first.client.encrypt(Buffer.alloc(32, 7));
    assert.deepEqual((await first.client.decrypt(enc.ciphertext, enc.key_id)).plaintext, Buffer.alloc(32, 7));
  });
});
