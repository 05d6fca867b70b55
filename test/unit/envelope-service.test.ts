import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { KmsError } from '../../src/ports/errors';
import { NO_DEADLINE } from '../../src/ports/call-context';
import { domainWithFakes, fixedBytes } from '../support/domain-container';

const seed = Buffer.alloc(32, 9);

describe('envelope service', () => {
  it('encrypts with exactly one backend request and returns the version as key_id', async () => {
    const d = domainWithFakes();
    d.transit.version = 4;
    const r = await d.envelope.encrypt(seed, NO_DEADLINE);
    assert.equal(d.transit.calls.encrypt, 1);
    assert.equal(d.transit.calls.readKey, 0);
    assert.equal(r.keyId, '4');
    assert.match(Buffer.from(r.ciphertext).toString(), /^vault:v4:/);
  });

  it('decrypts what it encrypted', async () => {
    const d = domainWithFakes();
    const r = await d.envelope.encrypt(seed, NO_DEADLINE);
    const plain = await d.envelope.decrypt({ ciphertext: r.ciphertext, keyId: r.keyId }, NO_DEADLINE);
    assert.deepEqual(Buffer.from(plain), seed);
  });

  it('answers Status from state without any backend request', async () => {
    const d = domainWithFakes();
    await d.tokens.login();
    await d.health.check(fixedBytes);
    const before = { ...d.transit.calls };
    for (let i = 0; i < 100; i++) assert.deepEqual(await d.envelope.status(NO_DEADLINE), { version: 'v2', healthz: 'ok', keyId: '1' });
    assert.deepEqual(d.transit.calls, before);
  });

  it('reports not-ok Status with a reason when no check finished within the deadline', async () => {
    const d = domainWithFakes();
    const s = await d.envelope.status({ deadline: d.clock.now() + 150, signal: NO_DEADLINE.signal });
    assert.notEqual(s.healthz, 'ok');
    assert.equal(s.keyId, '');
  });

  it('answers the first Status with the first verdict instead of "starting"', async () => {
    const d = domainWithFakes();
    const first = d.envelope.status({ deadline: d.clock.now() + 60_000, signal: NO_DEADLINE.signal });
    await d.health.check(fixedBytes); // before any login attempt: no verdict yet, Status keeps waiting
    await d.tokens.login();
    await d.health.check(fixedBytes);
    assert.deepEqual(await first, { version: 'v2', healthz: 'ok', keyId: '1' });
  });

  it('keeps Encrypt key_id equal to Status key_id across a rotation (pinned key_version)', async () => {
    const d = domainWithFakes();
    await d.tokens.login();
    await d.health.check(fixedBytes);
    d.transit.version = 2; // rotated in Vault; the background check has not seen it yet
    const before = await d.envelope.encrypt(seed, NO_DEADLINE);
    assert.equal(before.keyId, (await d.envelope.status(NO_DEADLINE)).keyId);
    assert.equal(before.keyId, '1');
    assert.deepEqual(d.transit.pinned, [undefined, 1], 'health probe unpinned, Encrypt pinned to the Status version');
    await d.health.check(fixedBytes);
    assert.equal((await d.envelope.status(NO_DEADLINE)).keyId, '2');
    const after = await d.envelope.encrypt(seed, NO_DEADLINE);
    assert.equal(after.keyId, '2');
  });

  it('encrypts with the latest version while no version is known yet', async () => {
    const d = domainWithFakes();
    d.transit.version = 3;
    const r = await d.envelope.encrypt(seed, NO_DEADLINE);
    assert.equal(r.keyId, '3');
    assert.equal((await d.envelope.status({ deadline: d.clock.now() + 150, signal: NO_DEADLINE.signal })).keyId, '3');
  });

  it('rejects empty and oversized plaintext before calling the backend', async () => {
    const d = domainWithFakes();
    await assert.rejects(d.envelope.encrypt(new Uint8Array(), NO_DEADLINE), (e: KmsError) => e.kind === 'invalid-argument');
    await assert.rejects(d.envelope.encrypt(new Uint8Array(70_000), NO_DEADLINE), (e: KmsError) => e.kind === 'invalid-argument');
    assert.equal(d.transit.calls.encrypt, 0);
  });

  it('rejects garbage ciphertext without calling the backend', async () => {
    const d = domainWithFakes();
    await assert.rejects(d.envelope.decrypt({ ciphertext: Buffer.from('garbage') }, NO_DEADLINE), (e: KmsError) => e.kind === 'invalid-argument');
    assert.equal(d.transit.calls.decrypt, 0);
  });

  it('rejects an oversized key_id and oversized annotations', async () => {
    const d = domainWithFakes();
    const ct = Buffer.from('vault:v1:' + 'A'.repeat(40));
    await assert.rejects(d.envelope.decrypt({ ciphertext: ct, keyId: 'k'.repeat(1025) }, NO_DEADLINE), /key_id/);
    const big = new Map([['a.example.com', new Uint8Array(40_000)]]);
    await assert.rejects(d.envelope.decrypt({ ciphertext: ct, annotations: big }, NO_DEADLINE), /annotations/);
  });

  it('accepts any key_id on decrypt, so data written by older Go plugin releases (timestamp key_ids) stays readable', async () => {
    const d = domainWithFakes();
    const r = await d.envelope.encrypt(seed, NO_DEADLINE);
    const plain = await d.envelope.decrypt({ ciphertext: r.ciphertext, keyId: '1706707774' }, NO_DEADLINE);
    assert.deepEqual(Buffer.from(plain), seed);
  });

  it('logs in again once and retries when the backend rejects the token', async () => {
    const d = domainWithFakes();
    await d.tokens.login();
    d.clock.advance(10_000);
    let first = true;
    const original = d.transit.encrypt.bind(d.transit);
    d.transit.encrypt = async (p, ctx) => {
      if (first) {
        first = false;
        throw new KmsError('permission-denied', 'permission denied', { tokenInvalid: true });
      }
      return original(p, ctx);
    };
    const r = await d.envelope.encrypt(seed, NO_DEADLINE);
    assert.equal(r.keyId, '1');
    assert.equal(d.auth.logins, 2);
  });

  it('passes backend errors through with their kind', async () => {
    const d = domainWithFakes();
    d.transit.failWith = new KmsError('unavailable', 'Vault is sealed');
    await assert.rejects(d.envelope.encrypt(seed, NO_DEADLINE), (e: KmsError) => e.kind === 'unavailable');
  });
});
