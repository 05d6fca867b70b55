import { after, before, beforeEach, describe, it, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { ProxiedServer } from '../support/fault-proxy';
import { TcpForwarder } from '../support/tcp-forwarder';
import { VaultHttpClient } from '../../src/adapters/vault/vault-http-client';
import { VaultAddressChecker } from '../../src/adapters/vault/vault-address-checker';
import { VaultTransitAdapter } from '../../src/adapters/vault/vault-transit.adapter';
import type { VaultClientSettings } from '../../src/adapters/vault/vault-settings';
import { KmsError } from '../../src/ports/errors';
import { withTimeout } from '../../src/ports/call-context';

/** Several -vault-address entries: sticky failover and retries until the deadline, over real HTTP. */
const clock = { now: () => Date.now() };
/** One OpenBao (behind a fault proxy) at two addresses (a TCP forwarder is the second "node"): one token and key for both. */
let vault: ProxiedServer;
let second: TcpForwarder;
let secondUrl: string;
let deadUrl: string;
const clients: VaultHttpClient[] = [];

function client(addresses: string[], over: Partial<VaultClientSettings> = {}, attempts?: string[]): VaultHttpClient {
  const c = new VaultHttpClient(
    { address: addresses[0], addresses, skipVerify: false, timeoutMs: 60_000, maxRetries: Number.POSITIVE_INFINITY, ...over },
    clock,
    () => {},
    (_op, outcome) => attempts?.push(outcome),
  );
  c.setToken(vault.kmsToken);
  clients.push(c);
  return c;
}

/**
 * The waits the client sleeps between attempts (VaultHttpClient.backoff arms them with setTimeout), recorded while
 * the test runs: "at once" is no such wait, not a number of milliseconds on a loaded machine.
 */
function backoffWaits(t: TestContext): number[] {
  const waits: number[] = [];
  const real = globalThis.setTimeout;
  t.mock.method(globalThis, 'setTimeout', function (this: unknown, ...args: Parameters<typeof setTimeout>) {
    if (new Error().stack?.includes('VaultHttpClient.backoff')) waits.push(Number(args[1]));
    return real.apply(this, args);
  });
  return waits;
}

before(async () => {
  vault = await ProxiedServer.start();
  second = new TcpForwarder(await TcpForwarder.freePort(), Number(new URL(vault.url).port));
  await second.up();
  secondUrl = `http://127.0.0.1:${second.port}`;
  deadUrl = `http://127.0.0.1:${await TcpForwarder.freePort()}`;
});
after(async () => {
  for (const c of clients) await c.close();
  await second.down();
  await vault.close();
});
beforeEach(async () => {
  await vault.reset();
});

describe('Vault client with several addresses', () => {
  it('moves past an address that refuses connections at once, and stays on the one that worked', async (t) => {
    const attempts: string[] = [];
    const http = client([deadUrl, vault.url, secondUrl], {}, attempts);
    const transit = new VaultTransitAdapter(http, 'transit', 'kms');
    const waits = backoffWaits(t);
    await transit.readKey(withTimeout(Date.now(), 3000));
    assert.deepEqual(waits, [], 'no backoff before trying the next address');
    assert.deepEqual(attempts, ['error', '2xx']);
    assert.equal(http.endpoints.current().address, vault.url);
    await transit.readKey(withTimeout(Date.now(), 3000));
    assert.deepEqual(attempts, ['error', '2xx', '2xx'], 'sticky: the dead address is not tried again');
    assert.deepEqual(http.endpoints.states().map((s) => s.up), [false, true, true]);
  });

  it('moves on after a 5xx (a sealed node)', async () => {
    vault.addFault({ path: 'transit/keys', kind: 'status', status: 503, body: { errors: ['Vault is sealed'] }, count: 1 });
    const attempts: string[] = [];
    const http = client([vault.url, secondUrl], {}, attempts);
    await new VaultTransitAdapter(http, 'transit', 'kms').readKey(withTimeout(Date.now(), 3000));
    assert.deepEqual(attempts, ['5xx', '2xx']);
    assert.equal(http.endpoints.current().address, secondUrl);
    assert.deepEqual(http.endpoints.states().map((s) => [s.up, s.reason]), [[false, 'HTTP 503'], [true, '']]);
  });

  it('moves on after a redirect to a listed node that cannot be reached', async () => {
    vault.addFault({ path: 'transit/keys', kind: 'redirect', location: deadUrl, count: 1 });
    const http = client([vault.url, deadUrl, secondUrl]);
    await new VaultTransitAdapter(http, 'transit', 'kms').readKey(withTimeout(Date.now(), 3000));
    assert.equal(http.endpoints.current().address, secondUrl);
    assert.equal(http.endpoints.states()[0].up, false, 'the node whose redirect led nowhere is marked down');
  });

  it('retries until the caller deadline when every address fails, with short waits; VAULT_MAX_RETRIES still caps attempts', async (t) => {
    const attempts: string[] = [];
    const http = client([deadUrl], {}, attempts);
    const waits = backoffWaits(t);
    const started = Date.now();
    await assert.rejects(new VaultTransitAdapter(http, 'transit', 'kms').readKey(withTimeout(Date.now(), 1500)), (e: KmsError) => ['unavailable', 'deadline-exceeded'].includes(e.kind));
    const elapsed = Date.now() - started;
    assert.ok(elapsed >= 1000, `gave up after ${elapsed} ms of a 1500 ms deadline`);
    // Waits of at most 250 ms: at least 1000 / 250 of them fit before giving up.
    assert.ok(attempts.length >= 4, `${attempts.length} attempts`);
    assert.ok(waits.length >= 3 && waits.every((w) => w <= 250), `waits ${waits.join(', ')} ms`);

    const capped: string[] = [];
    const http2 = client([deadUrl], { maxRetries: 1 }, capped);
    await assert.rejects(new VaultTransitAdapter(http2, 'transit', 'kms').readKey(withTimeout(Date.now(), 1500)));
    assert.equal(capped.length, 2);
  });
});

describe('sys/health check of every address (real OpenBao)', () => {
  it('names the role of each address and makes a passing one a failover candidate again', async () => {
    const bao = vault.bao;
    const http = client([deadUrl, bao.url]);
    http.endpoints.failed(http.endpoints.all[1], 'test');
    const checks = await new VaultAddressChecker(http.endpoints).checkAll(withTimeout(Date.now(), 1000));
    assert.deepEqual(checks.map((c) => [c.address, c.ok]), [[deadUrl, false], [bao.url, true]]);
    assert.match(checks[0].detail, /unreachable \(ECONNREFUSED\)/);
    assert.equal(checks[1].detail, 'active');
    assert.deepEqual(http.endpoints.states().map((s) => s.up), [false, true]);
    assert.equal(http.endpoints.current().address, bao.url);
  });
});
