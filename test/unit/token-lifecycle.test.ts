import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { KmsError } from '../../src/ports/errors';
import { domainWithFakes, fixedBytes } from '../support/domain-container';

describe('token lifecycle', () => {
  it('logs in on the first tick and then reports usable credentials', async () => {
    const d = domainWithFakes();
    assert.equal(d.tokens.credentialStatus().ok, false);
    await d.tokens.tick();
    assert.equal(d.auth.logins, 1);
    assert.equal(d.session.token, 'token-1');
    assert.equal(d.tokens.credentialStatus().ok, true);
  });

  it('renews with the configured increment past half of the TTL', async () => {
    const d = domainWithFakes();
    await d.tokens.tick();
    d.session.lookup = { ...d.session.lookup, ttl: 1000 };
    await d.tokens.tick();
    assert.deepEqual(d.session.renewals, [3600]);
    assert.equal(d.auth.logins, 1);
  });

  it('logs in again when the renewal is capped by the max TTL', async () => {
    const d = domainWithFakes();
    await d.tokens.tick();
    d.session.lookup = { ...d.session.lookup, ttl: 1000 };
    d.session.renewGrant = 61;
    await d.tokens.tick();
    assert.equal(d.auth.logins, 2);
  });

  it('logs in again when the renewal fails', async () => {
    const d = domainWithFakes();
    await d.tokens.tick();
    d.session.lookup = { ...d.session.lookup, ttl: 1000 };
    d.session.renewError = new KmsError('failed-precondition', 'lease is not renewable');
    await d.tokens.tick();
    assert.equal(d.auth.logins, 2);
  });

  it('logs in again when lookup says the token was revoked', async () => {
    const d = domainWithFakes();
    await d.tokens.tick();
    d.session.lookupError = new KmsError('permission-denied', 'permission denied', { tokenInvalid: true });
    await assert.rejects(d.tokens.tick());
    assert.equal(d.auth.logins, 2);
    d.session.lookupError = undefined;
    await d.tokens.tick();
    assert.equal(d.tokens.credentialStatus().ok, true);
  });

  it('with token auth, an expired token makes health fail with a reason saying why', async () => {
    const d = domainWithFakes();
    (d.auth as { canObtainNewToken: boolean }).canObtainNewToken = false;
    await d.tokens.tick();
    d.session.lookupError = new KmsError('permission-denied', 'permission denied', { tokenInvalid: true });
    await assert.rejects(d.tokens.tick());
    await d.health.check(fixedBytes);
    const s = d.health.state.snapshot(d.clock.now());
    assert.equal(s.healthy, false);
    assert.match(s.reason, /token auth cannot obtain a new one/);
  });

  it('shares one re-login between concurrent rejected requests', async () => {
    const d = domainWithFakes();
    await d.tokens.login();
    d.clock.advance(10_000);
    const g = d.tokens.generation();
    const results = await Promise.all(Array.from({ length: 20 }, () => d.tokens.onTokenRejected(g, true)));
    assert.ok(results.every((r) => r === true));
    assert.equal(d.auth.logins, 2);
  });

  it('logs in again on the first rejection even right after start-up', async () => {
    const d = domainWithFakes();
    await d.tokens.login();
    assert.equal(await d.tokens.onTokenRejected(d.tokens.generation(), false), true);
    assert.equal(d.auth.logins, 2);
  });

  it('always logs in again when Vault says the token itself is invalid', async () => {
    const d = domainWithFakes();
    await d.tokens.login();
    assert.equal(await d.tokens.onTokenRejected(d.tokens.generation(), true), true);
    assert.equal(await d.tokens.onTokenRejected(d.tokens.generation(), true), true);
    assert.equal(d.auth.logins, 3);
  });

  it('lets a request whose token was already replaced retry without another login', async () => {
    const d = domainWithFakes();
    await d.tokens.login();
    const old = d.tokens.generation();
    await d.tokens.login();
    assert.equal(await d.tokens.onTokenRejected(old, true), true);
    assert.equal(d.auth.logins, 2);
  });

  it('does not log in again in a tight loop when logging in does not help (a policy denial)', async () => {
    const d = domainWithFakes();
    await d.tokens.login();
    assert.equal(await d.tokens.onTokenRejected(d.tokens.generation(), false), true);
    assert.equal(await d.tokens.onTokenRejected(d.tokens.generation(), false), false);
    assert.equal(d.auth.logins, 2);
    d.clock.advance(5000);
    assert.equal(await d.tokens.onTokenRejected(d.tokens.generation(), false), true);
  });
});
