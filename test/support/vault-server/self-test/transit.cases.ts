/**
 * Transit behaviour: round trips, decrypt error order, batch status rules,
 * rotation and key config, upsert, delete.
 */
import assert from 'node:assert/strict';
import { beforeEach, describe, test } from 'node:test';
import { b64, call, useVaultServer } from './http';

export function transitCases(): void {
  describe('transit', () => {
    const vault = useVaultServer();
    beforeEach(() => vault().reset());
    const encrypt = (body: unknown, key = 'kms', token = vault().kmsToken) =>
      call(vault(), 'POST', `transit/encrypt/${key}`, { token, body });
    const decrypt = (body: unknown, key = 'kms', token = vault().kmsToken) =>
      call(vault(), 'POST', `transit/decrypt/${key}`, { token, body });

    test('encrypt/decrypt round trip (POST and PUT), fresh nonce each time', async () => {
      const a = await encrypt({ plaintext: b64('secret') });
      const b = await call(vault(), 'PUT', 'transit/encrypt/kms', { token: vault().kmsToken, body: { plaintext: b64('secret') } });
      assert.equal(a.status, 200);
      assert.notEqual(a.json.data.ciphertext, b.json.data.ciphertext);
      assert.match(a.json.data.ciphertext, /^vault:v1:[A-Za-z0-9+/]+={0,2}$/);
      assert.equal(Buffer.from(a.json.data.ciphertext.slice(9), 'base64').length, 12 + 6 + 16);
      const plain = await decrypt({ ciphertext: b.json.data.ciphertext });
      assert.equal(plain.status, 200);
      assert.deepEqual(plain.json.data, { plaintext: b64('secret') });
    });

    test('single-mode request errors', async () => {
      assert.deepEqual((await encrypt({})).json, { errors: ['missing plaintext to encrypt'] });
      assert.deepEqual((await decrypt({})).json, { errors: ['missing ciphertext to decrypt'] });
      assert.deepEqual((await encrypt({ plaintext: '!!notbase64' })).json, { errors: ['illegal base64 data at input byte 0'] });
      assert.deepEqual((await encrypt({ plaintext: b64('x'), key_version: 2 })).json, {
        errors: ['requested version for encryption is higher than the latest key version'],
      });
      assert.equal((await encrypt({ plaintext: b64('x'), key_version: '1' })).status, 200, 'numeric strings are fine at top level');
      assert.deepEqual((await decrypt({ ciphertext: 'vault:v1:AAAA' }, 'nokey', vault().rootToken)).json, {
        errors: ['encryption key not found'],
      });
    });

    test('decrypt errors in the documented order', async () => {
      vault().rotateKey(); // latest 2
      const good = (await encrypt({ plaintext: b64('x') })).json.data.ciphertext as string;
      const cases: [string, string][] = [
        ['nope', 'invalid ciphertext: no prefix'],
        ['vault:v1', 'invalid ciphertext: wrong number of fields'],
        ['vault:vX:abcd', 'invalid ciphertext: version number could not be decoded'],
        ['vault:v3:!!!!', 'invalid ciphertext: version is too new'],
        ['vault:v2:!!!!', 'invalid ciphertext: could not decode base64'],
        ['vault:v2:AAAA', 'invalid ciphertext length'],
        ['vault:v2:' + Buffer.alloc(20).toString('base64'), 'cipher: message authentication failed'],
        [good.replace('vault:v2:', 'vault:v1:'), 'cipher: message authentication failed'],
      ];
      for (const [ciphertext, message] of cases) {
        const res = await decrypt({ ciphertext });
        assert.equal(res.status, 400, ciphertext);
        assert.deepEqual(res.json, { errors: [message] }, ciphertext);
      }
      const zero = await decrypt({ ciphertext: good.replace('vault:v2:', 'vault:v0:') });
      assert.deepEqual(zero.json, { errors: ['cipher: message authentication failed'] }, 'v0 is read as v1');
    });

    test('batch: mixed results give 400, batch body without errors and without newline', async () => {
      const res = await encrypt({
        batch_input: [
          { plaintext: b64('hello'), reference: 'row-1' },
          { plaintext: '!!notbase64', reference: 'row-2' },
          { plaintext: b64('x') },
        ],
      });
      assert.equal(res.status, 400);
      assert.ok(!res.text.endsWith('\n'));
      assert.equal(res.json.errors, undefined);
      assert.equal(res.json.mount_type, '');
      const [ok, bad, noRef] = res.json.data.batch_results;
      assert.deepEqual(Object.keys(ok), ['ciphertext', 'key_version', 'reference']);
      assert.equal(ok.reference, 'row-1');
      assert.deepEqual(bad, { error: 'illegal base64 data at input byte 0', reference: 'row-2' });
      assert.equal(noRef.reference, '');

      const dec = await decrypt({
        batch_input: [
          { ciphertext: ok.ciphertext, reference: 'a' },
          { ciphertext: 'vault:v1:' + Buffer.alloc(30).toString('base64'), reference: 'b' },
        ],
        partial_failure_response_code: 207,
      });
      assert.equal(dec.status, 207);
      assert.deepEqual(dec.json.data.batch_results, [
        { plaintext: b64('hello'), reference: 'a' },
        { plaintext: '', error: 'cipher: message authentication failed', reference: 'b' },
      ]);
    });

    test('batch: status override rules', async () => {
      const allGood = await encrypt({ batch_input: [{ plaintext: b64('a') }, { plaintext: b64('b') }] });
      assert.equal(allGood.status, 200);
      assert.ok(allGood.text.endsWith('\n'));
      assert.equal(allGood.json.mount_type, 'transit');
      const allBad = await decrypt({ batch_input: [{ ciphertext: 'x' }], partial_failure_response_code: 207 });
      assert.equal(allBad.status, 400, 'override needs at least one success');
      const invalid = await encrypt({ batch_input: [{ plaintext: b64('a') }, { plaintext: '%' }], partial_failure_response_code: 0 });
      assert.equal(invalid.status, 400);
      assert.deepEqual(invalid.json.warnings, ['invalid HTTP response code override from partial_failure_response_code, reverting to 400']);
      const malformed = await encrypt({ batch_input: [{ reference: 'r' }] });
      assert.equal(malformed.status, 500);
      assert.match(malformed.json.errors[0], /failed to parse batch input: .*missing plaintext to encrypt/);
      const stringVersion = await encrypt({ batch_input: [{ plaintext: b64('a'), key_version: '1' }] });
      assert.equal(stringVersion.status, 500);
      assert.deepEqual((await encrypt({ batch_input: [] })).json, { errors: ['missing batch input to process'] });
      const emptyCipher = await decrypt({ batch_input: [{ ciphertext: '' }] });
      assert.equal(emptyCipher.json.data.batch_results[0].error, 'missing ciphertext to decrypt');
    });

    test('rotation: old ciphertext decrypts, min_decryption_version retires it', async () => {
      const v1 = (await encrypt({ plaintext: b64('old') })).json.data.ciphertext;
      const rotated = await call(vault(), 'POST', 'transit/keys/kms/rotate', { token: vault().rootToken });
      assert.equal(rotated.status, 200);
      assert.equal(rotated.json.data.latest_version, 2);
      assert.deepEqual(Object.keys(rotated.json.data.keys), ['1', '2']);
      const v2 = await encrypt({ plaintext: b64('new') });
      assert.match(v2.json.data.ciphertext, /^vault:v2:/);
      assert.equal(v2.json.data.key_version, 2);
      assert.equal((await decrypt({ ciphertext: v1 })).json.data.plaintext, b64('old'));
      const cfg = await call(vault(), 'POST', 'transit/keys/kms/config', { token: vault().rootToken, body: { min_decryption_version: 2 } });
      assert.equal(cfg.status, 200);
      assert.equal(cfg.json.data.min_decryption_version, 2);
      assert.deepEqual((await decrypt({ ciphertext: v1 })).json, {
        errors: ['ciphertext or signature version is disallowed by policy (too old)'],
      });
    });

    test('key config validation messages', async () => {
      const config = (body: unknown, key = 'kms') =>
        call(vault(), 'POST', `transit/keys/${key}/config`, { token: vault().rootToken, body });
      vault().rotateKey();
      vault().rotateKey(); // latest 3
      assert.deepEqual((await config({}, 'ghost')).json, { errors: ['no existing key named ghost could be found'] });
      assert.deepEqual((await config({ min_decryption_version: -1 })).json, { errors: ['min decryption version cannot be negative'] });
      assert.deepEqual((await config({ min_decryption_version: 5 })).json, {
        errors: ['cannot set min decryption version of 5, latest key version is 3'],
      });
      assert.deepEqual((await config({ min_decryption_version: 2, min_encryption_version: 1 })).json, {
        errors: [
          'cannot set min encryption/decryption values; min encryption version of 1 must be greater than or equal to min decryption version of 2',
        ],
      });
      const zero = await config({ min_decryption_version: 0 });
      assert.equal(zero.json.data.min_decryption_version, 1);
      assert.equal(zero.json.warnings.length, 1);
      await config({ min_encryption_version: 3 });
      assert.deepEqual((await encrypt({ plaintext: b64('x'), key_version: 2 })).json, {
        errors: ['requested version for encryption is less than the minimum encryption key version'],
      });
    });

    test('keys: read 404, create, delete rules', async () => {
      const missing = await call(vault(), 'GET', 'transit/keys/ghost', { token: vault().rootToken });
      assert.equal(missing.status, 404);
      assert.equal(missing.text, '{"errors":[]}\n');
      const created = await call(vault(), 'POST', 'transit/keys/other', { token: vault().rootToken, body: {} });
      assert.equal(created.status, 200);
      assert.equal(created.json.data.type, 'aes256-gcm96');
      const again = await call(vault(), 'POST', 'transit/keys/other', { token: vault().rootToken, body: {} });
      assert.deepEqual(again.json.warnings, ['key other already existed']);
      const del = await call(vault(), 'DELETE', 'transit/keys/other', { token: vault().rootToken });
      assert.deepEqual(del.json, { errors: ['error deleting policy other: deletion is not allowed for this key'] });
      await call(vault(), 'POST', 'transit/keys/other/config', { token: vault().rootToken, body: { deletion_allowed: true } });
      assert.equal((await call(vault(), 'DELETE', 'transit/keys/other', { token: vault().rootToken })).status, 204);
      const rotateMissing = await call(vault(), 'POST', 'transit/keys/other/rotate', { token: vault().rootToken });
      assert.deepEqual(rotateMissing.json, { errors: ['key not found'] });
    });

    test('upsert only with create capability', async () => {
      const denied = await encrypt({ plaintext: b64('x') }, 'fresh');
      assert.equal(denied.status, 403, 'kms token has no create on transit/encrypt/fresh');
      const upsert = await encrypt({ plaintext: b64('x') }, 'fresh', vault().rootToken);
      assert.equal(upsert.status, 200);
      const key = await call(vault(), 'GET', 'transit/keys/fresh', { token: vault().rootToken });
      assert.equal(key.json.data.latest_version, 1);
      await call(vault(), 'POST', 'transit/config/keys', { token: vault().rootToken, body: { disable_upsert: true } });
      const disabled = await encrypt({ plaintext: b64('x') }, 'fresh2', vault().rootToken);
      assert.deepEqual(disabled.json, { errors: ['encryption key not found'] });
    });

    test('derived keys need context; extra transit mounts', async () => {
      await call(vault(), 'POST', 'transit/keys/tenant', { token: vault().rootToken, body: { derived: true } });
      const noCtx = await encrypt({ plaintext: b64('x') }, 'tenant', vault().rootToken);
      assert.match(noCtx.json.errors[0], /^missing 'context' for key derivation/);
      const ctx = b64('tenant-1');
      const ct = await encrypt({ plaintext: b64('x'), context: ctx }, 'tenant', vault().rootToken);
      const pt = await decrypt({ ciphertext: ct.json.data.ciphertext, context: ctx }, 'tenant', vault().rootToken);
      assert.equal(pt.json.data.plaintext, b64('x'));
      const wrongCtx = await decrypt({ ciphertext: ct.json.data.ciphertext, context: b64('t2') }, 'tenant', vault().rootToken);
      assert.deepEqual(wrongCtx.json, { errors: ['cipher: message authentication failed'] });

      const mount = await call(vault(), 'POST', 'sys/mounts/kms-transit', { token: vault().rootToken, body: { type: 'transit' } });
      assert.equal(mount.status, 204);
      const other = await call(vault(), 'POST', 'kms-transit/encrypt/k', { token: vault().rootToken, body: { plaintext: b64('x') } });
      assert.equal(other.status, 200);
      const clash = await call(vault(), 'POST', 'sys/mounts/transit', { token: vault().rootToken, body: { type: 'transit' } });
      assert.deepEqual(clash.json, { errors: ['path is already in use at transit/'] });
    });
  });
}
