import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { status } from '@grpc/grpc-js';
import { KmsTestClient } from '../support/kms-client';
import { eventually, sleep, tempSocketDir, REPO_ROOT } from '../support/plugin-process';
import { PluginFixture } from '../support/plugin-fixture';
import { RealServer, REAL_SERVER_NAME, realServerUnderTest } from '../support/real-server';
import { markedPlaintext } from '../support/leak-capture';
import { makeTestPki } from '../support/test-pki';

/**
 * What only a real server shows: policies, TTLs, user lockout, key types,
 * request limits, namespaces, and a real init/unseal/TLS server, on OpenBao
 * 2.7.2 (this file) and on Vault 1.21.4 (on-vault/openbao-real.test.ts). Where
 * the two differ (request limits, namespaces), each one's own behaviour is
 * asserted. The plugin is the built CLI with the seed's flags.
 */
const kind = realServerUnderTest();
const NAME = REAL_SERVER_NAME[kind];
/** The real server under test (OpenBao or Vault). */
let bao: RealServer;
const plugins = new PluginFixture();

before(async () => {
  bao = await RealServer.start({
    kind,
    // Lockout as both servers ship it (5 attempts), with a short duration so the suite can watch it end.
    extraConfig: 'user_lockout "approle" {\n  lockout_threshold = 5\n  lockout_duration = "20s"\n  lockout_counter_reset = "20s"\n}\n',
  });
});
after(async () => {
  await plugins.stopAll();
  await bao.close();
});

/** The seed's policy, exactly as the user documentation prints it. */
function seedPolicy(): string {
  const seed = readFileSync(join(REPO_ROOT, '../shared/seed/000_f638ee16a8f462df.txt'), 'utf8');
  const start = seed.indexOf('# kms-policy.hcl');
  const end = seed.indexOf('You can create the policy using');
  assert.ok(start > 0 && end > start, 'the seed still prints its policy');
  return seed.slice(start, end);
}

function startWithToken(token: string, opts: { extra?: string[]; waitHealthy?: boolean } = {}) {
  return plugins.start([`-vault-address=${bao.url}`, '-auth-method=token', `-token=${token}`, ...(opts.extra ?? [])], { waitHealthy: opts.waitHealthy });
}

async function roundTrip(client: KmsTestClient, n: number): Promise<void> {
  const enc = await client.encrypt(markedPlaintext(n), `uid-${n}`);
  assert.deepEqual((await client.decrypt(enc.ciphertext, enc.key_id)).plaintext, markedPlaintext(n));
}

const MANIFEST_POLICY = () => readFileSync(join(REPO_ROOT, 'manifests/kms-policy.hcl'), 'utf8');

describe(`policies loaded into ${NAME} as written`, () => {
  it("works with the seed's policy and the seed's periodic orphan token", async () => {
    await bao.reset();
    await bao.writePolicy('seed-kms', seedPolicy());
    // vault token create -orphan -policy="kms" -period=24h
    const { token } = await bao.createToken({ policies: ['seed-kms'], period: '24h' });
    const { client } = await startWithToken(token);
    await roundTrip(client, 1);
    assert.equal((await client.status()).key_id, '1');
  });

  it("works with the seed's AppRole role (token_period=3600) and its policy", async () => {
    await bao.reset();
    await bao.writePolicy('seed-kms', seedPolicy());
    await bao.mustOk('POST', 'auth/approle/role/seedrole', { token_num_uses: 0, token_period: 3600, token_policies: ['seed-kms'] });
    const roleId = (await bao.mustOk('GET', 'auth/approle/role/seedrole/role-id')).json.data.role_id;
    const secretId = (await bao.mustOk('POST', 'auth/approle/role/seedrole/secret-id', {})).json.data.secret_id;
    const { client } = await plugins.start([`-vault-address=${bao.url}`, '-auth-method=approle', `-approle-role-id=${roleId}`, `-approle-secret-id=${secretId}`]);
    await roundTrip(client, 2);
  });

  it('works with manifests/kms-policy.hcl alone: a token created without the default policy', async () => {
    await bao.reset(); // bao.kmsToken: policies [kms] = manifests/kms-policy.hcl, no_default_policy
    const lookup = await bao.api('POST', 'auth/token/lookup', { token: bao.kmsToken });
    assert.deepEqual(lookup.json.data.policies, ['kms']);
    const { client } = await startWithToken(bao.kmsToken);
    await roundTrip(client, 3);
  });

  for (const [path, capability, effect] of [
    ['transit/encrypt/kms', 'update', 'encrypt'],
    ['transit/decrypt/kms', 'update', 'decrypt'],
    ['transit/keys/kms', 'read', 'status'],
    ['auth/token/lookup-self', 'read', 'status'],
  ] as const) {
    it(`names the missing capability when the policy lacks "${capability}" on ${path}`, async () => {
      await bao.reset();
      const policy = MANIFEST_POLICY().replace(new RegExp(`path "${path.replace(/\//g, '\\/')}" \\{[^}]*\\}`), '');
      assert.notEqual(policy, MANIFEST_POLICY());
      await bao.writePolicy('kms-partial', policy);
      const { token } = await bao.createToken({ policies: ['kms-partial'], no_default_policy: true, ttl: '1h' });
      const { client, p } = await startWithToken(token, { waitHealthy: false });
      const named = (text: string) => text.includes(path) && text.includes(capability) && /permission denied/i.test(text);
      if (effect === 'encrypt') {
        await assert.rejects(client.encrypt(Buffer.alloc(32)), (e: { code: number; details: string }) => e.code === status.PERMISSION_DENIED && named(e.details));
      } else if (effect === 'decrypt') {
        await eventually(() => client.status(), (s) => s.healthz !== 'ok' && named(s.healthz), 10_000);
      } else {
        await eventually(() => client.status(), (s) => named(s.healthz), 10_000);
      }
      await p.waitForLog((l) => named(JSON.stringify(l)));
      // Not a token problem: the plugin never mistakes a missing capability for a bad token.
      assert.equal(p.stdout.some((l) => /rejected the token|token is invalid|logging in again/i.test(l)), false, p.stdout.join('\n'));
    });
  }
});

describe(`AppRole on ${NAME}`, () => {
  it('serves with zero failed requests across many renewals and logins past the max TTL', async () => {
    await bao.reset();
    await bao.mustOk('POST', 'auth/approle/role/short', { token_policies: ['kms'], token_ttl: '4s', token_max_ttl: '9s' });
    const roleId = (await bao.mustOk('GET', 'auth/approle/role/short/role-id')).json.data.role_id;
    const secretId = (await bao.mustOk('POST', 'auth/approle/role/short/secret-id', {})).json.data.secret_id;
    const { client } = await plugins.start([
      `-vault-address=${bao.url}`, '-auth-method=approle', `-approle-role-id=${roleId}`, `-approle-secret-id=${secretId}`, '-token-refresh-interval=1s',
    ]);
    bao.resetStats();
    let failed = 0;
    let served = 0;
    const until = Date.now() + 22_000; // more than two max TTLs
    while (Date.now() < until) {
      try {
        await roundTrip(client, served);
        served++;
      } catch {
        failed++;
      }
      await sleep(50);
    }
    const stats = bao.stats();
    assert.equal(failed, 0, `failed requests across expiries: ${failed} of ${served + failed}`);
    assert.ok((stats['approle.login'] ?? 0) >= 2, `logged in again past the max TTL: ${JSON.stringify(stats)}`);
    assert.ok((stats['token.renew-self'] ?? 0) >= 1, `renewed within the TTL: ${JSON.stringify(stats)}`);
  });

  it("says when the server's user lockout blocks the role, and never locks itself out with a bad secret ID", async () => {
    await bao.reset();
    const dir = tempSocketDir();
    const secretFile = join(dir, 'secret-id');
    writeFileSync(secretFile, 'not-the-secret-id\n', { mode: 0o600 });
    const auditStart = statSync(bao.auditFile).size;
    const { p, client } = await plugins.start(
      [`-vault-address=${bao.url}`, '-auth-method=approle', `-approle-role-id=${bao.roleId}`, `-approle-secret-id-file=${secretFile}`, '-token-refresh-interval=1s'],
      { waitHealthy: false },
    );
    await p.waitForLog((l) => /invalid role or secret ID/i.test(JSON.stringify(l)));
    await sleep(6_000);
    // Other plugins of this file log in too (the short-TTL role): count the logins for this role ID only.
    const roleIdHash = await bao.auditHash(bao.roleId);
    const logins = bao
      .auditEntriesSince(auditStart)
      .filter((e) => e.type === 'request' && e.request?.path === 'auth/approle/login' && e.request?.data?.role_id === roleIdHash).length;
    assert.ok(logins >= 1, 'the plugin tried the secret ID once (and the audit hash finds its logins)');
    assert.ok(logins < 5, `a rejected secret ID is not sent again and again (${logins} logins would trip the lockout)`);
    assert.match((await client.status()).healthz, /secret ID|secret_id|credentials/i);

    // Fixing the file is enough: the plugin re-reads it at the next login.
    writeFileSync(secretFile, `${bao.secretId}\n`);
    p.signal('SIGHUP');
    await eventually(() => client.status(), (s) => s.healthz === 'ok', 20_000);
  });

  it('names the lockout and the way out when the role ID is locked', async () => {
    await bao.reset();
    // Someone else (another node with a stale secret ID) trips the lockout.
    for (let i = 0; i < 6; i++) await fetch(`${bao.url}/v1/auth/approle/login`, { method: 'POST', body: JSON.stringify({ role_id: bao.roleId, secret_id: `wrong-${i}` }) });
    const { p, client } = await plugins.start(
      [`-vault-address=${bao.url}`, '-auth-method=approle', `-approle-role-id=${bao.roleId}`, `-approle-secret-id=${bao.secretId}`, '-token-refresh-interval=1s'],
      { waitHealthy: false },
    );
    const line = await p.waitForLog((l) => /lockout|locked/i.test(JSON.stringify(l)), 15_000);
    assert.match(JSON.stringify(line), /sys\/locked-users/);
    assert.match((await client.status()).healthz, /lock/i);
    // The lockout ends (20 s here, 15 min by default) and the plugin recovers by itself.
    await eventually(() => client.status(), (s) => s.healthz === 'ok', 40_000, 500);
  });
});

describe(`Transit keys on ${NAME}`, () => {
  for (const type of ['aes256-gcm96', 'aes128-gcm96', 'chacha20-poly1305']) {
    it(`round-trips with a ${type} key`, async () => {
      await bao.reset();
      await bao.mustOk('POST', 'transit/keys/kms/config', { deletion_allowed: true });
      await bao.mustOk('DELETE', 'transit/keys/kms');
      await bao.mustOk('POST', 'transit/keys/kms', { type });
      const { client } = await startWithToken(bao.kmsToken);
      await roundTrip(client, 10);
    });
  }

  for (const [what, body] of [
    ['a derived key', { type: 'aes256-gcm96', derived: true }],
    ['a signing key', { type: 'ed25519' }],
  ] as const) {
    it(`refuses ${what} with a clear reason and stays up`, async () => {
      await bao.reset();
      await bao.mustOk('POST', 'transit/keys/kms/config', { deletion_allowed: true });
      await bao.mustOk('DELETE', 'transit/keys/kms');
      await bao.mustOk('POST', 'transit/keys/kms', body);
      const { client } = await startWithToken(bao.kmsToken, { waitHealthy: false });
      await eventually(() => client.status(), (s) => /derived|encrypt|type/i.test(s.healthz) && s.healthz !== 'ok', 10_000);
      await assert.rejects(client.encrypt(Buffer.alloc(32)), (e: { code: number }) => e.code === status.FAILED_PRECONDITION);
    });
  }

  it('reads old data across rotations and reports min_decryption_version as the reason old data fails', async () => {
    await bao.reset();
    const { client } = await startWithToken(bao.kmsToken);
    const v1 = await client.encrypt(markedPlaintext(20));
    await bao.rotateKey();
    await eventually(() => client.status(), (s) => s.key_id === '2', 10_000);
    const v2 = await client.encrypt(markedPlaintext(21));
    assert.equal(v2.key_id, '2');
    assert.deepEqual((await client.decrypt(v1.ciphertext)).plaintext, markedPlaintext(20));
    await bao.mustOk('POST', 'transit/keys/kms/config', { min_decryption_version: 2 });
    await assert.rejects(client.decrypt(v1.ciphertext), (e: { code: number; details: string }) => e.code === status.INVALID_ARGUMENT && /min_decryption_version|archived|version/i.test(e.details));
    assert.deepEqual((await client.decrypt(v2.ciphertext)).plaintext, markedPlaintext(21));
  });

  it('notices a key deleted and recreated: Status reports it, old data fails cleanly, the process stays up', async () => {
    await bao.reset();
    const { client } = await startWithToken(bao.kmsToken);
    await bao.rotateKey();
    await eventually(() => client.status(), (s) => s.key_id === '2', 10_000);
    const old = await client.encrypt(markedPlaintext(30));
    await bao.mustOk('POST', 'transit/keys/kms/config', { deletion_allowed: true });
    await bao.mustOk('DELETE', 'transit/keys/kms');
    await bao.mustOk('POST', 'transit/keys/kms', {});
    await eventually(() => client.status(), (s) => /recreated|went back|backwards|deleted/i.test(s.healthz), 10_000);
    await assert.rejects(client.decrypt(old.ciphertext), (e: { code: number }) => e.code === status.INVALID_ARGUMENT);
  });
});

describe(`${NAME}'s request limits`, () => {
  it('serves a burst of 1,200 distinct Decrypts with batches inside the server limit, none failing', async () => {
    await bao.reset();
    const { client } = await startWithToken(bao.kmsToken);
    const cts: { ciphertext: Buffer; key_id: string }[] = [];
    for (let i = 0; i < 40; i++) cts.push(await client.encrypt(markedPlaintext(1000 + i)));
    bao.resetStats();
    const results = await Promise.allSettled(
      Array.from({ length: 1200 }, (_, i) => client.decrypt(cts[i % cts.length].ciphertext, cts[i % cts.length].key_id, {}, 10_000)),
    );
    const failed = results.filter((r) => r.status === 'rejected');
    assert.equal(failed.length, 0, `failed: ${failed.length}, first: ${String((failed[0] as PromiseRejectedResult | undefined)?.reason)}`);
    const refused = bao.auditEntriesSince(0).filter((e) => e.type === 'response' && /high complexity/.test(JSON.stringify(e.error ?? '')));
    assert.equal(refused.length, 0);
  });

  if (kind === 'vault') {
    // Vault refuses a JSON array over its listener's max_json_array_element_count (10,000 by default) with HTTP 500,
    // before the request reaches the audit log: lowered here below the plugin's batches of up to 128.
    it('splits batches that Vault refuses with HTTP 500 "JSON array exceeds allowed element count": none fails', async () => {
      const limited = await RealServer.start({ kind, mode: 'server', listenerConfig: '    max_json_array_element_count = 16' });
      try {
        const refusal = await fetch(`${limited.url}/v1/transit/encrypt/kms`, {
          method: 'POST',
          headers: { 'x-vault-token': limited.kmsToken },
          body: JSON.stringify({ batch_input: Array.from({ length: 17 }, () => ({ plaintext: 'AAAA' })) }),
        });
        assert.equal(refusal.status, 500, 'the server refuses 17 items');
        assert.match(await refusal.text(), /JSON array exceeds allowed element count/);
        const { client } = await plugins.start([`-vault-address=${limited.url}`, '-auth-method=token', `-token=${limited.kmsToken}`]);
        limited.resetStats();
        const sealed = await Promise.allSettled(Array.from({ length: 300 }, (_, i) => client.encrypt(markedPlaintext(2000 + i), `uid-${i}`, 20_000)));
        const encryptFailed = sealed.filter((r) => r.status === 'rejected');
        assert.equal(encryptFailed.length, 0, `failed encrypts: ${encryptFailed.length}, first: ${String((encryptFailed[0] as PromiseRejectedResult | undefined)?.reason)}`);
        const cts = sealed.map((r) => (r as PromiseFulfilledResult<{ ciphertext: Buffer; key_id: string }>).value);
        const opened = await Promise.allSettled(cts.map((c) => client.decrypt(c.ciphertext, c.key_id, {}, 20_000)));
        const decryptFailed = opened.filter((r) => r.status === 'rejected');
        assert.equal(decryptFailed.length, 0, `failed decrypts: ${decryptFailed.length}, first: ${String((decryptFailed[0] as PromiseRejectedResult | undefined)?.reason)}`);
        opened.forEach((r, i) => assert.deepEqual((r as PromiseFulfilledResult<{ plaintext: Buffer }>).value.plaintext, markedPlaintext(2000 + i)));
        // What got through: batches, none over the limit (the refused ones never reach the audit log).
        const batches = limited
          .auditEntriesSince(0)
          .filter((e) => e.type === 'request' && Array.isArray(e.request?.data?.batch_input))
          .map((e) => e.request.data.batch_input.length as number);
        assert.ok(batches.length > 0, 'the plugin sent batches');
        assert.ok(Math.max(...batches) <= 16, `batch sizes that passed: ${batches.join(',')}`);
      } finally {
        await limited.close();
      }
    });
  }
});

describe(`namespaces on ${NAME}`, () => {
  it('works inside an OpenBao namespace with -vault-namespace and with VAULT_NAMESPACE', { skip: kind !== 'openbao' && 'Vault CE has no namespaces' }, async () => {
    await bao.reset();
    const ns = `team${Date.now() % 100000}`;
    await bao.mustOk('POST', `sys/namespaces/${ns}`, {});
    const inNs = async (method: string, path: string, body?: unknown) => {
      const res = await fetch(`${bao.url}/v1/${path}`, {
        method,
        headers: { 'x-vault-token': bao.rootToken, 'x-vault-namespace': ns, 'content-type': 'application/json' },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      if (res.status >= 300) throw new Error(`${path}: ${res.status} ${await res.text()}`);
      return res.status === 204 ? undefined : res.json();
    };
    await inNs('POST', 'sys/mounts/transit', { type: 'transit' });
    await inNs('POST', 'transit/keys/kms', {});
    await inNs('POST', 'transit/keys/kms/rotate', {});
    await inNs('PUT', 'sys/policies/acl/kms', { policy: MANIFEST_POLICY() });
    const created = (await inNs('POST', 'auth/token/create-orphan', { policies: ['kms'], no_default_policy: true, ttl: '1h' })) as any;
    const token = created.auth.client_token as string;
    const viaFlag = await plugins.start([`-vault-address=${bao.url}`, '-auth-method=token', `-token=${token}`, `-vault-namespace=${ns}`]);
    assert.equal((await viaFlag.client.status()).key_id, '2', 'the key of the namespace, not the root one');
    await roundTrip(viaFlag.client, 40);
    const viaEnv = await plugins.start([`-vault-address=${bao.url}`, '-auth-method=token', `-token=${token}`], { env: { VAULT_NAMESPACE: ns } });
    assert.equal((await viaEnv.client.status()).key_id, '2');
    assert.equal(viaFlag.p.stdout.some((l) => /ignores -vault-namespace/.test(l)), false, 'no warning where namespaces work');
  });

  it('warns at start that Vault CE ignores -vault-namespace and serves from the root namespace', { skip: kind !== 'vault' && 'OpenBao honours namespaces' }, async () => {
    await bao.reset();
    // The namespace does not exist: Vault CE serves the request from the root namespace all the same.
    const { p, client } = await plugins.start([`-vault-address=${bao.url}`, '-auth-method=token', `-token=${bao.kmsToken}`, '-vault-namespace=team-a']);
    const warning = await p.waitForLog((l) => /ignores -vault-namespace/.test(JSON.stringify(l)));
    assert.equal(warning.level, 'warn');
    assert.equal(warning.vault_namespace, 'team-a');
    assert.match(String(warning.fix), /remove -vault-namespace \(VAULT_KMS_VAULT_NAMESPACE, VAULT_NAMESPACE\)/);
    // What the warning is about: the root namespace's key serves.
    assert.equal((await client.status()).key_id, '1');
  });
});

describe(`a real non-dev ${NAME} server: init, unseal, TLS`, () => {
  let tlsBao: RealServer;
  const pki = makeTestPki();
  before(async () => {
    tlsBao = await RealServer.start({ kind, mode: 'server', tls: pki });
  });
  after(async () => {
    await tlsBao.close();
  });

  it('verifies the server with -vault-ca-cert, reports a seal honestly, and recovers after the unseal', async () => {
    const { client, p } = await plugins.start([`-vault-address=${tlsBao.url}`, '-auth-method=token', `-token=${tlsBao.kmsToken}`, `-vault-ca-cert=${pki.caFile}`]);
    await roundTrip(client, 50);
    const port = await p.healthPort();
    await tlsBao.seal();
    await eventually(() => client.status(), (s) => /sealed/.test(s.healthz), 10_000);
    assert.equal((await fetch(`http://127.0.0.1:${port}/health`)).status, 503);
    await assert.rejects(client.encrypt(Buffer.alloc(32)), (e: { code: number }) => e.code === status.UNAVAILABLE);
    await tlsBao.unseal();
    await eventually(() => client.status(), (s) => s.healthz === 'ok', 15_000);
    await roundTrip(client, 51);
  });

  it('refuses the server without the CA, with the reason in Status', async () => {
    const { client } = await plugins.start([`-vault-address=${tlsBao.url}`, '-auth-method=token', `-token=${tlsBao.kmsToken}`], { waitHealthy: false });
    await eventually(() => client.status(), (s) => /certificate|TLS|verify/i.test(s.healthz), 10_000);
  });
});
