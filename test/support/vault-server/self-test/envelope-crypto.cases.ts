/**
 * Wire format: envelope field order per flavor, error bodies, headers, Go
 * base64 errors, and the §2 crypto test vectors.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { encryptWithNonce } from '../transit-crypto';
import { decodeGoBase64 } from '../go-base64';
import { humanDuration, parseDurationSeconds } from '../time';
import { ENVELOPE_FIELDS_OPENBAO, ENVELOPE_FIELDS_VAULT, b64, call, useVaultServer } from './http';

const KEY = Buffer.from(Array.from({ length: 32 }, (_, i) => i));
const NONCE = Buffer.from(Array.from({ length: 12 }, (_, i) => 0xa0 + i));
const HELLO = Buffer.from('hello world');

export function envelopeAndCryptoCases(): void {
  describe('crypto test vectors (vault-api.md §2)', () => {
    test('plain AES-256-GCM', () => {
      assert.equal(encryptWithNonce(KEY, NONCE, HELLO), 'vault:v1:oKGio6Slpqeoqaqrjn0QQSrrddAQCeOsJrBG0xxuRyhGb7FdEMha');
    });
    test('with associated data', () => {
      assert.equal(
        encryptWithNonce(KEY, NONCE, HELLO, { associatedData: Buffer.from('aad') }),
        'vault:v1:oKGio6Slpqeoqaqrjn0QQSrrddAQCeNokJsCfuayf48n/rAMyfyx',
      );
    });
    test('empty plaintext', () => {
      assert.equal(encryptWithNonce(KEY, NONCE, Buffer.alloc(0)), 'vault:v1:oKGio6SlpqeoqaqrXGmWJa9Lk6D4IgoqYRnF0A==');
    });
    test('derived key with context', () => {
      assert.equal(
        encryptWithNonce(KEY, NONCE, HELLO, { context: Buffer.from('tenant-1') }),
        'vault:v1:oKGio6Slpqeoqaqr8pVixVHuNeMnim2wSnabP8fOKx00wTN8mdd/',
      );
    });
  });

  describe('Go-compatible helpers', () => {
    test('base64 error offsets match Go', () => {
      assert.deepEqual(decodeGoBase64('!!notbase64'), { ok: false, offset: 0 });
      assert.deepEqual(decodeGoBase64('aGVsbG8'), { ok: false, offset: 4 });
      assert.deepEqual(decodeGoBase64('aGk=x'), { ok: false, offset: 4 });
      assert.deepEqual(decodeGoBase64('a==='), { ok: false, offset: 1 });
      const ok = decodeGoBase64('aGVs\nbG8=');
      assert.ok(ok.ok && ok.bytes.toString() === 'hello');
    });
    test('durations', () => {
      assert.equal(parseDurationSeconds('1h'), 3600);
      assert.equal(parseDurationSeconds('1h30m'), 5400);
      assert.equal(parseDurationSeconds('3600'), 3600);
      assert.equal(parseDurationSeconds(90), 90);
      assert.throws(() => parseDurationSeconds('soon'));
      assert.equal(humanDuration(3600), '1h');
      assert.equal(humanDuration(598), '9m58s');
      assert.equal(humanDuration(3660), '1h1m');
      assert.equal(humanDuration(3601), '1h1s');
    });
  });

  describe('envelope, vault flavor', () => {
    const vault = useVaultServer();
    test('success envelope: field order, trailing newline, headers', async () => {
      const res = await call(vault(), 'POST', 'transit/encrypt/kms', { token: vault().kmsToken, body: { plaintext: b64('hi') } });
      assert.equal(res.status, 200);
      assert.ok(res.text.endsWith('}\n'));
      assert.deepEqual(Object.keys(res.json), ENVELOPE_FIELDS_VAULT);
      assert.match(res.json.request_id, /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
      assert.equal(res.json.mount_type, 'transit');
      assert.equal(res.json.wrap_info, null);
      assert.equal(res.json.warnings, null);
      assert.equal(res.headers.get('cache-control'), 'no-store');
      assert.equal(res.headers.get('content-type'), 'application/json');
      assert.deepEqual(Object.keys(res.json.data), ['ciphertext', 'key_version']);
    });
    test('data keys are sorted like a Go map, including version numbers', async () => {
      for (let i = 0; i < 10; i++) vault().rotateKey();
      const res = await call(vault(), 'GET', 'transit/keys/kms', { token: vault().kmsToken });
      const keysText = res.text.slice(res.text.indexOf('"keys":{'));
      assert.match(keysText, /^"keys":\{"1":\d+,"10":\d+,"11":\d+,"2":/);
      const dataKeys = Object.keys(res.json.data);
      assert.deepEqual(dataKeys, [...dataKeys].sort());
    });
    test('error body, invalid token text of Vault >= 1.17', async () => {
      const res = await call(vault(), 'GET', 'auth/token/lookup-self', { token: 'hvs.bogus' });
      assert.equal(res.status, 403);
      assert.equal(res.text, '{"errors":["2 errors occurred:\\n\\t* permission denied\\n\\t* invalid token\\n\\n"]}\n');
      const missing = await call(vault(), 'GET', 'auth/token/lookup-self');
      assert.equal(missing.status, 403);
      assert.deepEqual(missing.json, { errors: ['permission denied'] });
    });
    test('bad JSON is a 400 with the vault text', async () => {
      const res = await call(vault(), 'POST', 'transit/encrypt/kms', { token: vault().kmsToken, rawBody: '{nope' });
      assert.equal(res.status, 400);
      assert.match(res.json.errors[0], /^failed to parse JSON input: /);
    });
    test('Bearer authorization is accepted; namespace header is echoed', async () => {
      const res = await call(vault(), 'GET', 'auth/token/lookup-self', {
        headers: { Authorization: `Bearer ${vault().kmsToken}`, 'X-Vault-Namespace': 'admin' },
      });
      assert.equal(res.status, 200);
      assert.equal(res.headers.get('x-vault-namespace'), 'admin');
    });
  });

  describe('envelope, openbao flavor', () => {
    const bao = useVaultServer({ flavor: 'openbao' });
    test('no mount_type field', async () => {
      const res = await call(bao(), 'POST', 'transit/encrypt/kms', { token: bao().kmsToken, body: { plaintext: b64('hi') } });
      assert.equal(res.status, 200);
      assert.deepEqual(Object.keys(res.json), ENVELOPE_FIELDS_OPENBAO);
    });
    test('invalid token is plain permission denied; key body has soft_deleted', async () => {
      const res = await call(bao(), 'GET', 'auth/token/lookup-self', { token: 'hvs.bogus' });
      assert.equal(res.status, 403);
      assert.equal(res.text, '{"errors":["permission denied"]}\n');
      const key = await call(bao(), 'GET', 'transit/keys/kms', { token: bao().kmsToken });
      assert.equal(key.json.data.soft_deleted, false);
    });
    test('openbao JSON error text and health body', async () => {
      const res = await call(bao(), 'POST', 'transit/encrypt/kms', { token: bao().kmsToken, rawBody: '[1]' });
      assert.match(res.json.errors[0], /^failed to decode JSON input: /);
      const health = await call(bao(), 'GET', 'sys/health');
      assert.deepEqual(Object.keys(health.json), [
        'initialized',
        'sealed',
        'standby',
        'replication_performance_mode',
        'replication_dr_mode',
        'server_time_utc',
        'version',
        'cluster_name',
        'cluster_id',
      ]);
    });
  });
}
