import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { MAX_VAULT_RESPONSE_BASE_BYTES, VaultHttpClient } from '../../src/adapters/vault/vault-http-client';
import { AppRoleAuthStrategy } from '../../src/adapters/vault/auth/approle-auth';
import type { VaultClientSettings } from '../../src/adapters/vault/vault-settings';
import { KmsError } from '../../src/ports/errors';
import { withTimeout, type CallContext } from '../../src/ports/call-context';
import { HostileHttpServer, streamHugeBody } from '../support/hostile-http';
import { captureSecret } from '../support/leak-capture';

/**
 * The Vault HTTP client against a hostile server (issue 10 items 2 and 5):
 * things a compromised Vault, or anything on the path of an http:// address,
 * could do. A real Vault cannot be made to do them, so the server is written here.
 */
const clock = { now: () => Date.now() };
const ctx = (ms = 10_000): CallContext => withTimeout(Date.now(), ms);
const settings = (address: string, over: Partial<VaultClientSettings> = {}): VaultClientSettings => ({ address, skipVerify: false, timeoutMs: 30_000, maxRetries: 2, ...over });
const servers: HostileHttpServer[] = [];
after(async () => {
  await Promise.all(servers.map((s) => s.close()));
});
async function hostile(handler: ConstructorParameters<typeof HostileHttpServer>[0]) {
  const s = await new HostileHttpServer(handler).start();
  servers.push(s);
  return s;
}

describe('a Vault answer of 1 GB', () => {
  it('fails that request with a clear error after reading ~1 MiB, keeps memory flat, and the next request on the pool works', async () => {
    let sentBytes: Promise<number> | undefined;
    const server = await hostile((req, res) => {
      if (req.url?.includes('lookup-self')) sentBytes = streamHugeBody(res, 1024 * 1024 * 1024);
      else {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end('{"data":{"ok":true}}');
      }
    });
    const http = new VaultHttpClient(settings(server.url), clock);
    http.setToken(`s.${randomBytes(8).toString('hex')}`);
    const before = process.memoryUsage().rss;
    await assert.rejects(http.request('GET', 'auth/token/lookup-self', undefined, ctx()), (e: KmsError) => {
      assert.equal(e.kind, 'internal', 'not retried: a second 1 GB answer would not help');
      assert.match(e.message, new RegExp(`larger than ${MAX_VAULT_RESPONSE_BASE_BYTES} bytes; refusing to read it`));
      return true;
    });
    const grewMiB = (process.memoryUsage().rss - before) / 1024 / 1024;
    const sent = await sentBytes;
    assert.ok((sent ?? 0) < 256 * 1024 * 1024, `the server stopped long before 1 GB (sent ${sent} bytes)`);
    assert.ok(grewMiB < 64, `RSS grew ${grewMiB.toFixed(1)} MiB`);
    assert.equal(server.requests.filter((r) => r.url.includes('lookup-self')).length, 1, 'no retry');
    const ok = await http.request('GET', 'sys/health', undefined, ctx());
    assert.deepEqual(ok.body, { data: { ok: true } });
    await http.close();
  });

  it('reads a legitimate large answer: the limit grows with the request (a full batch of 64 KiB plaintexts)', async () => {
    const payload = { batch_input: Array.from({ length: 128 }, () => ({ plaintext: randomBytes(64 * 1024).toString('base64') })) };
    const server = await hostile((_req, res, body) => {
      const items = (JSON.parse(body) as typeof payload).batch_input.map((i) => ({ ciphertext: `vault:v1:${i.plaintext}AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA` }));
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ data: { batch_results: items } }));
    });
    const http = new VaultHttpClient(settings(server.url), clock);
    const res = await http.request('POST', 'transit/encrypt/kms', payload, ctx());
    assert.equal((res.body as { data: { batch_results: unknown[] } }).data.batch_results.length, 128);
    await http.close();
  });
});

describe('redirects carry secrets, so they are followed only where the operator allows', () => {
  it('never follows a 307 to another origin: the token, the secret ID and the data go nowhere', async () => {
    const elsewhere = await hostile((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('{"auth":{"client_token":"stolen","lease_duration":60,"renewable":false}}');
    });
    const standby = await hostile((req, res) => {
      res.writeHead(307, { location: `${elsewhere.url}${req.url}` });
      res.end();
    });
    const token = `s.${randomBytes(12).toString('hex')}`;
    const secretId = randomBytes(16).toString('hex');
    captureSecret(token);
    captureSecret(secretId);
    const http = new VaultHttpClient(settings(standby.url), clock);
    http.setToken(token);
    await assert.rejects(http.request('POST', 'transit/encrypt/kms', { plaintext: 'QUJD' }, ctx()), (e: KmsError) => {
      assert.equal(e.kind, 'unavailable');
      assert.match(e.message, new RegExp(`redirected to ${elsewhere.url}, which is not -vault-address's origin nor listed in -vault-redirect-origins`));
      assert.ok(!e.message.includes(token));
      return true;
    });
    const login = new AppRoleAuthStrategy(http, 'approle', 'role', secretId, undefined, () => {});
    await assert.rejects(login.login(ctx()), (e: KmsError) => /not -vault-address's origin/.test(e.message));
    assert.equal(elsewhere.requests.length, 0, 'the other origin received nothing');
    assert.ok(standby.requests.length >= 2);
    await http.close();
  });

  it('follows a 307 to an origin listed in -vault-redirect-origins, and to another path of the same origin; reports each origin once', async () => {
    const active = await hostile((req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ data: { path: req.url, token: req.headers['x-vault-token'] === 'present' } }));
    });
    const standby = await hostile((req, res) => {
      if (req.url?.startsWith('/moved/')) {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end('{"data":{"same":true}}');
        return;
      }
      res.writeHead(307, { location: req.url?.includes('same') ? `/moved${req.url}` : `${active.url}${req.url}` });
      res.end();
    });
    const followed: string[] = [];
    const http = new VaultHttpClient(settings(standby.url, { redirectOrigins: [active.url] }), clock, undefined, undefined, (_from, to) => followed.push(to));
    http.setToken('present');
    for (let i = 0; i < 3; i++) {
      const r = await http.request('GET', 'transit/keys/kms', undefined, ctx());
      assert.deepEqual(r.body, { data: { path: '/v1/transit/keys/kms', token: true } });
    }
    assert.deepEqual((await http.request('GET', 'same/thing', undefined, ctx())).body, { data: { same: true } });
    assert.deepEqual(followed, [active.url], 'one report per origin, none for the same origin');
    await http.close();
  });
});
