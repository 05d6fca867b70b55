import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { KmsError } from '../../src/ports/errors';
import { domainWithFakes, fixedBytes } from '../support/domain-container';

describe('health monitor (background check)', () => {
  it('is healthy after token, key read and a round trip succeed', async () => {
    const d = domainWithFakes();
    await d.tokens.login();
    assert.equal(await d.health.check(fixedBytes), true);
    assert.deepEqual(d.transit.calls, { encrypt: 1, decrypt: 1, readKey: 1 });
  });

  it('turns unhealthy with the backend reason, and recovers on the next good check', async () => {
    const d = domainWithFakes();
    await d.tokens.login();
    d.transit.failWith = new KmsError('unavailable', 'Vault is sealed');
    assert.equal(await d.health.check(fixedBytes), false);
    assert.match(d.health.state.snapshot(d.clock.now()).reason, /sealed/);
    d.transit.failWith = undefined;
    assert.equal(await d.health.check(fixedBytes), true);
  });

  it('refreshes key_id from the key read', async () => {
    const d = domainWithFakes();
    await d.tokens.login();
    d.transit.version = 7;
    await d.health.check(fixedBytes);
    assert.equal(d.keys.keyId(), '7');
  });

  it('is unhealthy while the key looks deleted and recreated', async () => {
    const d = domainWithFakes();
    await d.tokens.login();
    d.transit.version = 3;
    await d.health.check(fixedBytes);
    d.transit.version = 1;
    assert.equal(await d.health.check(fixedBytes), false);
    assert.match(d.health.state.snapshot(d.clock.now()).reason, /deleted and recreated/);
  });

  it('logs a state change once, not on every check', async () => {
    const d = domainWithFakes();
    await d.tokens.login();
    for (let i = 0; i < 5; i++) await d.health.check(fixedBytes);
    assert.equal(d.log.lines.filter((l) => l.message === 'health check passed').length, 1);
  });
});
