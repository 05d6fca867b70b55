import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { status } from '@grpc/grpc-js';
import { KmsTestClient } from '../support/kms-client';
import { ALL_PLUGIN_OUTPUT, PluginProcess, eventually, sleep, tempSocketDir } from '../support/plugin-process';
import { TcpForwarder } from '../support/tcp-forwarder';
import { PluginFixture } from '../support/plugin-fixture';
import { markedPlaintext } from '../support/leak-capture';
import { backendNames, startBackend, type VaultBackend } from '../support/vault-backends';

/**
 * The built CLI, started with the seed document's flags, driven over its real
 * socket, against each Vault backend (real OpenBao, real Vault), each behind a
 * fault proxy that can make it hang or refuse logins; token expiry uses real short TTLs.
 */
const PLAINTEXT_MARKER = markedPlaintext(1);
/** Every credential handed to a plugin in this file, for the leak scan at the end. */
const ISSUED_SECRETS = new Set<string>();

for (const backend of backendNames()) {
  let vault: VaultBackend;
  const plugins = new PluginFixture();

  before(async () => {
    vault = await startBackend(backend);
  });
  after(async () => {
    await plugins.stopAll();
    await vault.close();
  });

  /** Seed flags plus a private socket, a free health port and a fast background check for tests. */
  async function start(authArgs: string[], opts: { extra?: string[]; env?: Record<string, string>; address?: string; waitHealthy?: boolean } = {}) {
    for (const s of [vault.rootToken, vault.kmsToken, vault.secretId]) ISSUED_SECRETS.add(s);
    for (const a of authArgs) if (/-(token|secret-id)=/.test(a)) ISSUED_SECRETS.add(a.slice(a.indexOf('=') + 1));
    return plugins.start([`-vault-address=${opts.address ?? vault.url}`, ...authArgs, ...(opts.extra ?? [])], { env: opts.env, waitHealthy: opts.waitHealthy });
  }

  const tokenArgs = () => ['-auth-method=token', `-token=${vault.kmsToken}`];

  describe(`plugin against ${backend} (token auth, seed flags)`, () => {
    it('round-trips KMS v2 with one Vault request per Encrypt and none per Status', async () => {
      await vault.reset();
      const { client } = await start(tokenArgs());
      vault.resetStats();
      const enc = await client.encrypt(PLAINTEXT_MARKER, 'uid-1');
      assert.equal(enc.key_id, '1');
      assert.match(enc.ciphertext.toString(), /^vault:v1:/);
      const afterEncrypt = vault.stats();
      assert.equal(afterEncrypt['transit.encrypt'], 1);
      assert.equal(afterEncrypt['transit.keys.read'] ?? 0, 0, 'Encrypt makes no key read');
      vault.resetStats();
      for (let i = 0; i < 50; i++) await client.status();
      const s = vault.stats();
      assert.ok((s['transit.encrypt'] ?? 0) <= 2, 'Status itself causes no Vault traffic (only the 1 s background check may run)');
      assert.deepEqual((await client.decrypt(enc.ciphertext, enc.key_id)).plaintext, PLAINTEXT_MARKER);
    });

    it('serves KMS v1 with -disable-v1=false', async () => {
      await vault.reset();
      const { client } = await start(tokenArgs(), { extra: ['-disable-v1=false'] });
      assert.equal((await client.v1Version()).version, 'v1beta1');
      const enc = await client.v1Encrypt(PLAINTEXT_MARKER);
      assert.deepEqual((await client.v1Decrypt(enc.cipher)).plain, PLAINTEXT_MARKER);
    });

    it('follows a key rotation: key_id changes and old ciphertexts still decrypt', async () => {
      await vault.reset();
      const { client } = await start(tokenArgs());
      const before = await client.encrypt(Buffer.alloc(32, 1));
      assert.equal(before.key_id, '1');
      await vault.rotateKey();
      await eventually(() => client.status(), (s) => s.key_id === '2', 10_000);
      const afterRot = await client.encrypt(Buffer.alloc(32, 2));
      assert.equal(afterRot.key_id, '2');
      assert.match(afterRot.ciphertext.toString(), /^vault:v2:/);
      assert.deepEqual((await client.decrypt(before.ciphertext, before.key_id)).plaintext, Buffer.alloc(32, 1));
    });

    it('reports a sealed Vault honestly and recovers by itself when unsealed', async () => {
      await vault.reset();
      const { client, p } = await start(tokenArgs());
      const port = await p.healthPort();
      await vault.seal();
      await eventually(() => client.status(), (s) => s.healthz !== 'ok', 10_000);
      assert.match((await client.status()).healthz, /sealed/);
      await assert.rejects(client.encrypt(Buffer.alloc(32)), (e: { code: number }) => e.code === status.UNAVAILABLE);
      const h = await fetch(`http://127.0.0.1:${port}/health`);
      assert.equal(h.status, 503);
      assert.equal((await fetch(`http://127.0.0.1:${port}/live`)).status, 200, 'a Vault outage never fails liveness');
      await vault.unseal();
      await eventually(() => client.status(), (s) => s.healthz === 'ok', 15_000);
      assert.equal((await client.encrypt(Buffer.alloc(32))).key_id, '1');
    });

    it('opens its socket while Vault is unreachable at start, reports unhealthy, and recovers without a restart', async () => {
      await vault.reset();
      const port = await TcpForwarder.freePort();
      const fwd = new TcpForwarder(port, Number(new URL(vault.url).port));
      const { client, p } = await start(tokenArgs(), { address: `http://127.0.0.1:${port}`, waitHealthy: false });
      const status1 = await client.status();
      assert.notEqual(status1.healthz, 'ok');
      await p.waitForLog((l) => l.message === 'Vault token check failed; retrying with backoff');
      await fwd.up();
      try {
        await eventually(() => client.status(), (s) => s.healthz === 'ok', 20_000);
        assert.equal((await client.encrypt(Buffer.alloc(32))).key_id, '1');
      } finally {
        await fwd.down();
      }
    });

    it('answers PERMISSION_DENIED when the policy does not allow the key', async () => {
      await vault.reset();
      const weak = (await vault.bao.createToken({ policies: ['default'], ttl: '1h' })).token;
      const { client } = await start(['-auth-method=token', `-token=${weak}`], { waitHealthy: false });
      await assert.rejects(client.encrypt(Buffer.alloc(32)), (e: { code: number }) => e.code === status.PERMISSION_DENIED);
    });

    it('answers INVALID_ARGUMENT for garbage and for a ciphertext of another key', async () => {
      await vault.reset();
      const { client } = await start(tokenArgs());
      await assert.rejects(client.decrypt(Buffer.from('not a ciphertext')), (e: { code: number }) => e.code === status.INVALID_ARGUMENT);
      const foreign = 'vault:v1:' + Buffer.alloc(60, 7).toString('base64');
      await assert.rejects(client.decrypt(Buffer.from(foreign)), (e: { code: number }) => e.code === status.INVALID_ARGUMENT);
    });

    it('answers DEADLINE_EXCEEDED within the deadline when Vault hangs, and stays up', async () => {
      await vault.reset();
      const { p, client } = await start(tokenArgs());
      vault.addFault({ path: 'transit/encrypt', kind: 'hang' });
      await assert.rejects(client.encrypt(Buffer.alloc(32), 'uid-hang', 500), (e: { code: number }) => e.code === status.DEADLINE_EXCEEDED);
      // The plugin ended the call at the caller's deadline, or when the caller gave up at it (the two timers race),
      // not at a Vault timeout of its own: Vault still hangs.
      const ended = await p.waitForLog((l) => l.message === 'v2 encrypt failed' && l.uid === 'uid-hang');
      assert.ok(['deadline-exceeded', 'cancelled'].includes(ended.error_kind as string), JSON.stringify(ended));
      vault.clearFaults();
      assert.equal((await client.encrypt(Buffer.alloc(32))).key_id, '1');
    });

    it('runs from env vars alone', async () => {
      await vault.reset();
      const socket = join(tempSocketDir(), 'vaultkms.socket');
      const p = plugins.adopt(new PluginProcess([], {
        VAULT_KMS_VAULT_ADDR: vault.url,
        VAULT_KMS_AUTH_METHOD: 'token',
        VAULT_KMS_TOKEN: vault.kmsToken,
        VAULT_KMS_SOCKET: `unix://${socket}`,
        VAULT_KMS_HEALTH_PORT: '127.0.0.1:0',
        VAULT_KMS_HEALTH_CHECK_INTERVAL: '1s',
      }));
      await p.waitForSocket(socket);
      const client = new KmsTestClient(socket);
      await eventually(() => client.status(), (s) => s.healthz === 'ok', 15_000);
      client.close();
    });
  });

  describe(`plugin against ${backend} (AppRole)`, () => {
    const approleArgs = (role: { roleId: string; secretId: string } = vault, refresh = '1s') => [
      '-auth-method=approle',
      `-approle-role-id=${role.roleId}`,
      `-approle-secret-id=${role.secretId}`,
      `-token-refresh-interval=${refresh}`,
    ];

    it('renews its token past half the TTL', async () => {
      await vault.reset();
      // Role tokens live 6 s (real TTL): past 3 s less than half is left.
      const role = await vault.bao.createAppRole('renewing', { token_ttl: '6s', token_max_ttl: '1h' });
      const { client } = await start(approleArgs(role));
      vault.resetStats();
      await eventually(async () => vault.stats()['token.renew-self'] ?? 0, (n) => n >= 1, 10_000);
      assert.equal((await client.encrypt(Buffer.alloc(32))).key_id, '1');
    });

    it('logs in again after its token expired, with no failed request afterwards', async () => {
      await vault.reset();
      // Tokens that die for good after 2 s, and a renewal loop (1 h) that never runs before they do.
      const role = await vault.bao.createAppRole('expiring', { token_ttl: '2s', token_max_ttl: '2s' });
      const { client, p } = await start(approleArgs(role, '1h'));
      vault.resetStats();
      await sleep(3000); // the token is gone
      for (let i = 0; i < 5; i++) assert.equal((await client.encrypt(Buffer.alloc(32, i))).key_id, '1');
      assert.ok((vault.stats()['approle.login'] ?? 0) >= 1);
      await p.waitForLog((l) => typeof l.message === 'string' && /logging in again|logging in to Vault again/.test(l.message as string));
    });

    it('stays up and unhealthy with a clear reason while logins are refused, and recovers when they are allowed again', async () => {
      await vault.reset();
      const role = await vault.bao.createAppRole('refused', { token_ttl: '2s', token_max_ttl: '2s' });
      const { client } = await start(approleArgs(role));
      // The role locked: every login answered 403 while the 2 s token runs out.
      vault.addFault({ path: '^auth/approle/login', kind: 'status', status: 403 });
      await eventually(() => client.status(), (s) => s.healthz !== 'ok', 15_000);
      assert.match((await client.status()).healthz, /login|denied|token/i);
      vault.clearFaults();
      await eventually(() => client.status(), (s) => s.healthz === 'ok', 20_000);
    });
  });

}

describe('secrets never leak', () => {
  it('no token, secret ID or plaintext appears in anything the plugin printed', () => {
    const text = ALL_PLUGIN_OUTPUT.join('\n');
    assert.ok(text.length > 0);
    const secrets = [...ISSUED_SECRETS, PLAINTEXT_MARKER.toString(), PLAINTEXT_MARKER.toString('base64')];
    assert.ok(ISSUED_SECRETS.size >= 3);
    for (const s of secrets) assert.equal(text.includes(s), false, `leaked: ${s.slice(0, 6)}…`);
    assert.equal(/hvs\.[A-Za-z0-9]{20,}/.test(text), false, 'no Vault service token of any kind');
  });
});
