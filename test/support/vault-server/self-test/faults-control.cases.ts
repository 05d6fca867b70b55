/**
 * Fault kinds, latency, request stats and the /_test control API.
 */
import assert from 'node:assert/strict';
import { beforeEach, describe, test } from 'node:test';
import { b64, call, useVaultServer } from './http';

export function faultAndControlCases(): void {
  describe('faults', () => {
    const vault = useVaultServer();
    beforeEach(() => vault().reset());
    const encrypt = (body: unknown = { plaintext: b64('x') }, signal?: AbortSignal) =>
      call(vault(), 'POST', 'transit/encrypt/kms', { token: vault().kmsToken, body, signal });

    test('status: code, default body, Retry-After, count', async () => {
      vault().addFault({ path: '^transit/encrypt/', kind: 'status', status: 429, retryAfter: 2, count: 1 });
      const limited = await encrypt();
      assert.equal(limited.status, 429);
      assert.equal(limited.headers.get('retry-after'), '2');
      assert.deepEqual(limited.json, { errors: ['request path "transit/encrypt/kms": rate limit quota exceeded'] });
      assert.equal((await encrypt()).status, 200, 'count spent');
      vault().addFault({ path: 'encrypt', kind: 'status', status: 503 });
      assert.deepEqual((await encrypt()).json, { errors: ['Vault is sealed'] });
      assert.equal((await encrypt()).status, 503, 'no count: unlimited');
      vault().clearFaults();
      vault().addFault({ path: 'encrypt', kind: 'status', status: 500, body: { errors: ['custom'] } });
      assert.deepEqual((await encrypt()).json, { errors: ['custom'] });
    });

    test('rules are checked in order and only on matching paths', async () => {
      vault().addFault([
        { path: '^transit/decrypt/', kind: 'status', status: 502 },
        { path: '^transit/', kind: 'status', status: 412, count: 1 },
        { path: '^transit/', kind: 'status', status: 500, count: 1 },
      ]);
      assert.equal((await encrypt()).status, 412);
      assert.equal((await encrypt()).status, 500);
      assert.equal((await encrypt()).status, 200);
      assert.equal((await call(vault(), 'GET', 'sys/health')).status, 200);
    });

    test('reset destroys the connection mid-response', async () => {
      vault().addFault({ path: 'encrypt', kind: 'reset', count: 1 });
      await assert.rejects(encrypt());
      assert.equal((await encrypt()).status, 200);
    });

    test('truncate sends half of a real JSON body', async () => {
      vault().addFault({ path: 'encrypt', kind: 'truncate', count: 1 });
      const res = await encrypt();
      assert.equal(res.status, 200);
      assert.equal(res.json, undefined, 'not parseable');
      assert.ok(res.text.startsWith('{"request_id":"'));
    });

    test('wrong-shape answers 200 with valid JSON of the wrong types', async () => {
      vault().addFault({ path: 'encrypt', kind: 'wrong-shape', count: 1 });
      const res = await encrypt();
      assert.equal(res.status, 200);
      assert.equal(typeof res.json.data.ciphertext, 'number');
    });

    test('hang never answers until the client gives up', async () => {
      vault().addFault({ path: 'encrypt', kind: 'hang', count: 1 });
      await assert.rejects(encrypt(undefined, AbortSignal.timeout(200)));
      assert.equal((await encrypt()).status, 200);
    });

    test('redirect answers 307 to location + same path', async () => {
      vault().addFault({ path: 'encrypt', kind: 'redirect', location: 'http://127.0.0.1:9/', count: 1 });
      const res = await encrypt();
      assert.equal(res.status, 307);
      assert.equal(res.headers.get('location'), 'http://127.0.0.1:9/v1/transit/encrypt/kms');
      assert.equal(res.text, '');
    });

    test('reject-batch refuses only batch requests', async () => {
      vault().addFault({ path: 'crypt/', kind: 'reject-batch', count: 1 });
      assert.equal((await encrypt()).status, 200, 'single requests pass and do not spend the count');
      const res = await encrypt({ batch_input: [{ plaintext: b64('x') }] });
      assert.equal(res.status, 400);
      assert.deepEqual(res.json, { errors: ['missing plaintext to encrypt'] });
      assert.equal((await encrypt({ batch_input: [{ plaintext: b64('x') }] })).status, 200);
    });

    test('latency delays /v1 responses', async () => {
      vault().setLatency(60);
      const started = performance.now();
      await call(vault(), 'GET', 'sys/health');
      assert.ok(performance.now() - started >= 50);
      vault().setLatency(0);
    });

    test('bad rules are refused by the control API', async () => {
      const res = await call(vault(), 'POST', '/_test/faults', { body: { rules: [{ path: 'x', kind: 'explode' }] } });
      assert.equal(res.status, 400);
      const noLocation = await call(vault(), 'POST', '/_test/faults', { body: { rules: [{ path: 'x', kind: 'redirect' }] } });
      assert.equal(noLocation.status, 400);
      assert.throws(() => vault().addFault({ path: '(', kind: 'hang' }));
    });
  });

  describe('stats and control API', () => {
    const vault = useVaultServer();
    beforeEach(() => vault().reset());

    test('every /v1 request is counted by operation', async () => {
      const token = vault().kmsToken;
      await call(vault(), 'POST', 'transit/encrypt/kms', { token, body: { plaintext: b64('a') } });
      const batch = await call(vault(), 'POST', 'transit/encrypt/kms', {
        token,
        body: { batch_input: [{ plaintext: b64('a') }, { plaintext: b64('b') }, { plaintext: b64('c') }] },
      });
      const ciphertexts = batch.json.data.batch_results.map((r: { ciphertext: string }) => ({ ciphertext: r.ciphertext }));
      await call(vault(), 'POST', 'transit/decrypt/kms', { token, body: { batch_input: ciphertexts.slice(0, 2) } });
      await call(vault(), 'GET', 'transit/keys/kms', { token });
      await call(vault(), 'GET', 'auth/token/lookup-self', { token });
      await call(vault(), 'POST', 'auth/token/renew-self', { token });
      await call(vault(), 'POST', 'auth/approle/login', { body: { role_id: vault().roleId, secret_id: vault().secretId } });
      await call(vault(), 'GET', 'sys/health');
      await call(vault(), 'GET', '/_test/stats');
      const stats = (await call(vault(), 'GET', '/_test/stats')).json;
      assert.deepEqual(stats, vault().stats());
      assert.deepEqual(stats, {
        'approle.login': 1,
        'sys.health': 1,
        'token.lookup-self': 1,
        'token.renew-self': 1,
        total: 8,
        'transit.batch_items': 5,
        'transit.decrypt': 1,
        'transit.decrypt.batch': 1,
        'transit.encrypt': 2,
        'transit.encrypt.batch': 1,
        'transit.keys.read': 1,
      });
      await call(vault(), 'POST', '/_test/stats/reset');
      assert.deepEqual(vault().stats(), {});
    });

    test('reset, seal, clock and credentials over HTTP', async () => {
      const before = vault().kmsToken;
      const reset = await call(vault(), 'POST', '/_test/reset');
      assert.equal(reset.status, 200);
      assert.notEqual(reset.json.kmsToken, before);
      assert.equal(reset.json.kmsToken, vault().kmsToken);
      assert.equal(reset.json.rootToken, vault().rootToken);
      assert.deepEqual((await call(vault(), 'GET', '/_test/credentials')).json, {
        rootToken: vault().rootToken,
        kmsToken: vault().kmsToken,
        roleId: vault().roleId,
        secretId: vault().secretId,
      });
      assert.equal((await call(vault(), 'GET', 'auth/token/lookup-self', { token: before })).status, 403);

      await call(vault(), 'POST', '/_test/seal');
      assert.equal((await call(vault(), 'GET', 'transit/keys/kms', { token: vault().kmsToken })).status, 503);
      await call(vault(), 'POST', '/_test/unseal');
      assert.equal((await call(vault(), 'GET', 'transit/keys/kms', { token: vault().kmsToken })).status, 200);

      const frozen = await call(vault(), 'POST', '/_test/clock', { body: { freeze: true } });
      const advanced = await call(vault(), 'POST', '/_test/clock', { body: { advanceSeconds: 86401 } });
      assert.equal(advanced.json.now, frozen.json.now + 86401);
      assert.equal((await call(vault(), 'GET', 'auth/token/lookup-self', { token: vault().kmsToken })).status, 403, 'expired');

      await call(vault(), 'POST', '/_test/faults', { body: { rules: [{ path: 'x', kind: 'hang', count: 2 }] } });
      assert.equal((await call(vault(), 'GET', '/_test/faults')).json.rules[0].remaining, 2);
      await call(vault(), 'DELETE', '/_test/faults');
      assert.deepEqual((await call(vault(), 'GET', '/_test/faults')).json.rules, []);
      assert.equal((await call(vault(), 'POST', '/_test/latency', { body: { ms: -1 } })).status, 400);
      assert.equal((await call(vault(), 'GET', '/_test/nothing')).status, 404);
    });
  });
}
