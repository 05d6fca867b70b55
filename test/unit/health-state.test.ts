import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { HealthState } from '../../src/domain/model/health-state';

describe('health state', () => {
  it('is unhealthy until the first check completes', () => {
    assert.equal(new HealthState(1000).snapshot(0).healthy, false);
  });

  it('is healthy while the last successful check is recent', () => {
    const h = new HealthState(1000);
    h.record(true, 'ok', 100);
    assert.deepEqual(h.snapshot(1100), { healthy: true, reason: 'ok', checkedAt: 100 });
  });

  it('stops trusting a success that is too old (a stuck checker must not report ok)', () => {
    const h = new HealthState(1000);
    h.record(true, 'ok', 100);
    const s = h.snapshot(1101);
    assert.equal(s.healthy, false);
    assert.match(s.reason, /older than/);
  });

  it('reports the reason of the last failure', () => {
    const h = new HealthState(1000);
    h.record(false, 'Vault is sealed', 100);
    assert.deepEqual(h.snapshot(200), { healthy: false, reason: 'Vault is sealed', checkedAt: 100 });
  });
});
