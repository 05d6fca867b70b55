import { after, before, beforeEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { FaultProxy, ProxiedServer } from '../support/fault-proxy';
import { sleep } from '../support/plugin-process';
import { VaultHttpClient } from '../../src/adapters/vault/vault-http-client';
import { VaultTransitAdapter } from '../../src/adapters/vault/vault-transit.adapter';
import { VaultTokenSessionAdapter } from '../../src/adapters/vault/vault-token-session.adapter';
import { AppRoleAuthStrategy } from '../../src/adapters/vault/auth/approle-auth';
import type { VaultClientSettings } from '../../src/adapters/vault/vault-settings';
import { KmsError } from '../../src/ports/errors';
import { withTimeout, type CallContext } from '../../src/ports/call-context';

/** The Vault adapters speaking real HTTP to real OpenBao, through a fault proxy for what a healthy server never does. */
const clock = { now: () => Date.now() };
const ctx = (ms = 3000): CallContext => withTimeout(Date.now(), ms);

let vault: ProxiedServer;
let http: VaultHttpClient;
let transit: VaultTransitAdapter;
let session: VaultTokenSessionAdapter;

function settings(over: Partial<VaultClientSettings> = {}): VaultClientSettings {
  return { address: vault.url, skipVerify: false, timeoutMs: 60_000, maxRetries: 2, ...over };
}

before(async () => {
  vault = await ProxiedServer.start();
});
after(async () => {
  await http?.close();
  await vault.close();
});
beforeEach(async () => {
  await http?.close();
  await vault.reset();
  http = new VaultHttpClient(settings(), clock);
  http.setToken(vault.kmsToken);
  transit = new VaultTransitAdapter(http, 'transit', 'kms');
  session = new VaultTokenSessionAdapter(http);
});

describe('Vault transit adapter over HTTP', () => {
  it('encrypts to the vault:vN: format and decrypts back', async () => {
    const [e] = await transit.encrypt([{ plaintext: Buffer.from('hello') }], ctx());
    assert.ok(e.ok);
    assert.match(e.ciphertext, /^vault:v1:/);
    assert.equal(e.keyVersion, 1);
    const [d] = await transit.decrypt([e.ciphertext], ctx());
    assert.ok(d.ok && Buffer.from(d.plaintext).toString() === 'hello');
  });

  it('sends several items as one batch request and maps per-item errors', async () => {
    vault.resetStats();
    const [a] = await transit.encrypt([{ plaintext: Buffer.from('a') }], ctx());
    assert.ok(a.ok);
    const out = await transit.decrypt([a.ciphertext, 'vault:v1:' + 'A'.repeat(40), a.ciphertext], ctx());
    assert.equal(out[0].ok, true);
    assert.equal(out[1].ok, false);
    assert.equal(!out[1].ok && out[1].error.kind, 'invalid-ciphertext');
    assert.equal(out[2].ok, true);
    assert.equal(vault.stats()['transit.decrypt.batch'], 1);
  });

  it('falls back to single requests when the server rejects batches, and remembers', async () => {
    vault.addFault({ path: 'transit/', kind: 'reject-batch' });
    const enc = await transit.encrypt([{ plaintext: Buffer.from('x') }, { plaintext: Buffer.from('y') }], ctx());
    assert.ok(enc.every((e) => e.ok));
    vault.resetStats();
    await transit.encrypt([{ plaintext: Buffer.from('x') }, { plaintext: Buffer.from('y') }], ctx());
    assert.equal(vault.stats()['transit.encrypt.batch'] ?? 0, 0);
    assert.equal(vault.stats()['transit.encrypt'], 2);
  });

  it('maps an error the server puts on one item of an otherwise good batch to that item only', async () => {
    vault.addFault({ path: 'transit/encrypt', kind: 'batch-item-error', item: 1, body: { error: 'encryption failed for this item' } });
    const out = await transit.encrypt([{ plaintext: Buffer.from('a') }, { plaintext: Buffer.from('b') }, { plaintext: Buffer.from('c') }], ctx());
    assert.deepEqual(out.map((o) => o.ok), [true, false, true]);
    assert.equal(!out[1].ok && out[1].error.kind, 'failed-precondition');
    assert.match(!out[1].ok ? out[1].error.message : '', /encryption failed for this item/);
  });

  it('reads the key version and follows a rotation', async () => {
    assert.equal((await transit.readKey(ctx())).latestVersion, 1);
    await vault.rotateKey();
    assert.equal((await transit.readKey(ctx())).latestVersion, 2);
    const [e] = await transit.encrypt([{ plaintext: Buffer.from('x') }], ctx());
    assert.ok(e.ok && e.keyVersion === 2 && e.ciphertext.startsWith('vault:v2:'));
  });

  it('reports a missing key as failed-precondition', async () => {
    http.setToken(vault.rootToken);
    const other = new VaultTransitAdapter(http, 'transit', 'nope');
    await assert.rejects(other.readKey(ctx()), (e: KmsError) => e.kind === 'failed-precondition');
  });

  it('reports a policy denial as permission-denied', async () => {
    const t = await vault.bao.createToken({ policies: ['default'] });
    http.setToken(t.token);
    await assert.rejects(transit.encrypt([{ plaintext: Buffer.from('x') }], ctx()), (e: KmsError) => e.kind === 'permission-denied');
  });

  it('reports a sealed Vault as unavailable after retrying within the deadline', async () => {
    await vault.seal();
    try {
      await assert.rejects(transit.encrypt([{ plaintext: Buffer.from('x') }], ctx(3000)), (e: KmsError) => e.kind === 'unavailable' && /sealed/.test(e.message));
      assert.ok((vault.stats()['transit.encrypt'] ?? 0) >= 2, 'retried within the deadline');
    } finally {
      await vault.unseal();
    }
  });

  it('retries a 503 burst and succeeds', async () => {
    vault.addFault({ path: 'transit/encrypt', kind: 'status', status: 503, count: 2 });
    const [e] = await transit.encrypt([{ plaintext: Buffer.from('x') }], ctx());
    assert.ok(e.ok);
  });

  it('honours Retry-After on 429 when it fits the deadline', async () => {
    vault.addFault({ path: 'transit/encrypt', kind: 'status', status: 429, retryAfter: 0, count: 1 });
    const [e] = await transit.encrypt([{ plaintext: Buffer.from('x') }], ctx());
    assert.ok(e.ok);
  });

  it('gives up at the caller deadline when Vault hangs', async () => {
    vault.addFault({ path: 'transit/encrypt', kind: 'hang' });
    vault.resetStats();
    await assert.rejects(transit.encrypt([{ plaintext: Buffer.from('x') }], ctx(300)), (e: KmsError) => e.kind === 'deadline-exceeded');
    // Bounded Vault work: the one hung request, no retry after the deadline passed.
    assert.equal(vault.stats()['transit.encrypt'], 1);
  });

  it('serves until the server starts failing, then retries its 503s and reports unavailable', async () => {
    vault.addFault({ path: 'transit/encrypt', kind: 'status', status: 503, from: Date.now() + 2000 });
    const [before] = await transit.encrypt([{ plaintext: Buffer.from('x') }], ctx());
    assert.ok(before.ok);
    await sleep(2100);
    vault.resetStats();
    await assert.rejects(transit.encrypt([{ plaintext: Buffer.from('x') }], ctx(1000)), (e: KmsError) => e.kind === 'unavailable');
    assert.ok((vault.stats()['transit.encrypt'] ?? 0) >= 2, 'retried');
  });

  it('does not retry past a short deadline', async () => {
    vault.addFault({ path: 'transit/encrypt', kind: 'status', status: 500 });
    await assert.rejects(transit.encrypt([{ plaintext: Buffer.from('x') }], ctx(20)), (e: KmsError) => e.kind === 'unavailable' || e.kind === 'deadline-exceeded');
  });

  it('treats truncated JSON as unavailable and retries it', async () => {
    vault.addFault({ path: 'transit/encrypt', kind: 'truncate', count: 1 });
    const [e] = await transit.encrypt([{ plaintext: Buffer.from('x') }], ctx());
    assert.ok(e.ok);
    vault.addFault({ path: 'transit/encrypt', kind: 'truncate' });
    await assert.rejects(transit.encrypt([{ plaintext: Buffer.from('x') }], ctx()), (e: KmsError) => e.kind === 'unavailable');
  });

  it('treats a valid response of the wrong shape as internal, never a crash', async () => {
    vault.addFault({ path: 'transit/encrypt', kind: 'wrong-shape' });
    await assert.rejects(transit.encrypt([{ plaintext: Buffer.from('x') }], ctx()), (e: KmsError) => e.kind === 'internal');
  });

  it('retries a connection reset', async () => {
    vault.addFault({ path: 'transit/decrypt', kind: 'reset', count: 1 });
    const [e] = await transit.encrypt([{ plaintext: Buffer.from('x') }], ctx());
    assert.ok(e.ok);
    const [d] = await transit.decrypt([e.ciphertext], ctx());
    assert.ok(d.ok);
  });

  it('follows a standby 307 redirect to the active node', async () => {
    // The active node: another origin (a second proxy) in front of the same server.
    const active = await FaultProxy.start(vault.bao.url);
    try {
      vault.addFault({ path: 'transit/encrypt', kind: 'redirect', location: active.url, count: 1 });
      // The active node is another origin: followed only because it is listed (-vault-redirect-origins).
      const redirected: string[] = [];
      const standby = new VaultHttpClient(settings({ redirectOrigins: [new URL(active.url).origin] }), clock, undefined, undefined, (_from, to) => redirected.push(to));
      standby.setToken(vault.kmsToken);
      const [e] = await new VaultTransitAdapter(standby, 'transit', 'kms').encrypt([{ plaintext: Buffer.from('x') }], ctx());
      await standby.close();
      assert.ok(e.ok);
      assert.equal(active.stats()['transit.encrypt'], 1);
      assert.deepEqual(redirected, [new URL(active.url).origin], 'the followed redirect is reported once');
    } finally {
      await active.close();
    }
  });

  it('is unavailable, not crashing, when nothing listens', async () => {
    const dead = new VaultHttpClient(settings({ address: 'http://127.0.0.1:1', maxRetries: 1 }), clock);
    await assert.rejects(new VaultTransitAdapter(dead, 'transit', 'kms').readKey(ctx(1000)), (e: KmsError) => e.kind === 'unavailable');
    await dead.close();
  });
});

describe('Vault token session and AppRole over HTTP', () => {
  it('looks up the token and renews it, capped by its max TTL', async () => {
    const t = await vault.bao.createToken({ ttl: '600s', explicit_max_ttl: '700s', policies: ['kms'] });
    http.setToken(t.token);
    const l = await session.lookupSelf(ctx());
    assert.equal(l.creationTtl, 600);
    assert.equal(l.renewable, true);
    const r = await session.renewSelf(3600, ctx());
    assert.ok(r.leaseDurationSeconds <= 700 && r.leaseDurationSeconds > 600, String(r.leaseDurationSeconds));
  });

  it('classifies an expired token as permission-denied with tokenInvalid (Vault ≥1.17)', async () => {
    const t = await vault.bao.createToken({ ttl: '1s', policies: ['kms'] });
    http.setToken(t.token);
    await sleep(2500); // a real token past its real TTL
    await assert.rejects(session.lookupSelf(ctx()), (e: KmsError) => e.kind === 'permission-denied' && e.tokenInvalid);
  });

  it('logs in with AppRole and uses the new token', async () => {
    const seen: string[] = [];
    const approle = new AppRoleAuthStrategy(http, 'approle', vault.roleId, vault.secretId, undefined, (s) => seen.push(s));
    const token = await approle.login(ctx());
    assert.match(token, /^(hvs|s)\./); // Vault issues hvs. tokens, OpenBao s. ones
    assert.ok(seen.includes(vault.secretId) && seen.includes(token), 'secrets are registered for redaction');
    http.setToken(token);
    assert.ok((await session.lookupSelf(ctx())).ttl > 0);
  });

  it('rejects a bad secret ID as permission-denied', async () => {
    const approle = new AppRoleAuthStrategy(http, 'approle', vault.roleId, 'wrong', undefined, () => {});
    await assert.rejects(approle.login(ctx()), (e: KmsError) => e.kind === 'permission-denied');
  });
});
