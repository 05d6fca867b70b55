import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { KmsError } from '../../src/ports/errors';
import type { VaultAddressCheck, VaultAddressesPort } from '../../src/ports/vault-addresses.port';
import { domainWithFakes, fixedBytes } from '../support/domain-container';

/** Answers checkAll with whatever the test set, and counts the calls. */
class FakeAddresses implements VaultAddressesPort {
  checks: VaultAddressCheck[] = [
    { address: 'https://vault-0:8200', ok: false, detail: 'unreachable (ECONNREFUSED)' },
    { address: 'https://vault-1:8200', ok: true, detail: 'standby' },
  ];
  calls = 0;
  addresses(): readonly string[] {
    return this.checks.map((c) => c.address);
  }
  async checkAll(): Promise<readonly VaultAddressCheck[]> {
    this.calls++;
    return this.checks;
  }
}

describe('health with several Vault addresses', () => {
  it('is healthy when any address passes, and keeps each address verdict for /health?verbose', async () => {
    const addresses = new FakeAddresses();
    const d = domainWithFakes({ vaultAddresses: addresses });
    await d.tokens.login();
    assert.equal(await d.health.check(fixedBytes), true);
    const snap = d.health.state.snapshot(d.clock.now());
    assert.deepEqual(snap.addresses?.map((a) => [a.address, a.ok]), [['https://vault-0:8200', false], ['https://vault-1:8200', true]]);
  });

  it('is unhealthy, naming every address, when none passes, without trying the round trip', async () => {
    const addresses = new FakeAddresses();
    addresses.checks = addresses.checks.map((c) => ({ ...c, ok: false, detail: 'sealed' }));
    const d = domainWithFakes({ vaultAddresses: addresses });
    await d.tokens.login();
    assert.equal(await d.health.check(fixedBytes), false);
    assert.equal(d.health.state.snapshot(d.clock.now()).reason, 'no Vault address is usable: https://vault-0:8200 sealed; https://vault-1:8200 sealed');
    assert.deepEqual(d.transit.calls, { encrypt: 0, decrypt: 0, readKey: 0 });
  });

  it('asks for a check when a request outcome contradicts the verdict, at most once a second', async () => {
    const d = domainWithFakes();
    await d.tokens.login();
    assert.equal(d.health.requestOutcome('failed'), false, 'no verdict yet: the first check is already due');
    await d.health.check(fixedBytes);
    assert.equal(d.health.requestOutcome('answered'), false, 'a success while healthy is no news');
    assert.equal(d.health.requestOutcome('failed'), true, 'a failure while healthy: check now');
    assert.equal(d.health.requestOutcome('failed'), false, 'rate-bounded');
    d.clock.advance(1000);
    assert.equal(d.health.requestOutcome('failed'), true);
    d.transit.failWith = new KmsError('unavailable', 'Vault is sealed');
    await d.health.check(fixedBytes);
    d.clock.advance(1000);
    assert.equal(d.health.requestOutcome('failed'), false, 'a failure while unhealthy is no news');
    assert.equal(d.health.requestOutcome('answered'), true, 'a success while unhealthy: check now');
  });
});

describe('health of an idle plugin and of refused requests (issue 23 item 12)', () => {
  it('a refused request (401/403: token expired) while healthy asks for a check at once; while unhealthy it does not', async () => {
    const d = domainWithFakes();
    await d.tokens.login();
    await d.health.check(fixedBytes);
    assert.equal(d.health.requestOutcome('refused'), true, 'Vault answered, but the credentials stopped working: check now');
    d.transit.failWith = new KmsError('permission-denied', 'permission denied');
    await d.health.check(fixedBytes);
    d.clock.advance(1000);
    assert.equal(d.health.requestOutcome('refused'), false, 'already unhealthy: the full check retries on its own');
  });

  it('the quick check turns a healthy plugin unhealthy as soon as no address answers, asking for a full check, with sys/health only', async () => {
    const addresses = new FakeAddresses();
    const d = domainWithFakes({ vaultAddresses: addresses });
    await d.tokens.login();
    assert.equal(await d.health.quickCheck(), false, 'no verdict yet: the first full check is due anyway');
    assert.equal(addresses.calls, 0);
    assert.equal(await d.health.check(fixedBytes), true);
    const transitCalls = { ...d.transit.calls };
    d.clock.advance(5000);
    assert.equal(await d.health.quickCheck(), false, 'an address still answers: nothing to do');
    assert.equal(d.health.state.snapshot(d.clock.now()).healthy, true);
    addresses.checks = addresses.checks.map((c) => ({ ...c, ok: false, detail: 'unreachable (ECONNREFUSED)' }));
    d.clock.advance(5000);
    assert.equal(await d.health.quickCheck(), true, 'no address answers: a full check is due now');
    const snap = d.health.state.snapshot(d.clock.now());
    assert.equal(snap.healthy, false, 'unhealthy at once, not at the next full check');
    assert.match(snap.reason, /^no Vault address is usable: https:\/\/vault-0:8200 unreachable/);
    assert.deepEqual(d.transit.calls, transitCalls, 'the quick check costs no Transit request');
    const calls = addresses.calls;
    assert.equal(await d.health.quickCheck(), false, 'while unhealthy the full check retries quickly by itself');
    assert.equal(addresses.calls, calls);
  });

  it('the quick check does nothing without Vault addresses (-dev)', async () => {
    const d = domainWithFakes();
    await d.tokens.login();
    await d.health.check(fixedBytes);
    assert.equal(await d.health.quickCheck(), false);
  });
});

describe('token renewal during a Vault election', () => {
  it('keeps the token and stays healthy when the renewal cannot reach Vault; the loop retries later', async () => {
    const d = domainWithFakes();
    await d.tokens.tick();
    d.session.lookup = { ...d.session.lookup, ttl: 1000 };
    d.session.renewError = new KmsError('unavailable', 'Vault failed renewing the token (HTTP 500: local node not active but active cluster node not found)');
    await assert.rejects(d.tokens.tick(), /active cluster node not found/);
    assert.equal(d.auth.logins, 1, 'no new login for an unreachable Vault');
    assert.deepEqual(d.tokens.credentialStatus(), { ok: true });
    d.session.renewError = undefined;
    await d.tokens.tick();
    assert.equal(d.auth.logins, 1);
  });
});
