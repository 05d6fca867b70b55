import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { TokenLookup } from '../../src/ports/token-lookup';
import { decideAfterRenewal, decideOnLookup } from '../../src/domain/model/renewal-policy';

const settings = { incrementSeconds: 3600, checkIntervalSeconds: 60 };
const token = (o: Partial<TokenLookup>): TokenLookup => ({ ttl: 3600, creationTtl: 3600, renewable: true, period: 0, ...o });

describe('token renewal policy', () => {
  const table: [string, TokenLookup, string][] = [
    ['does nothing for a non-expiring (root) token', token({ ttl: 0, creationTtl: 0, renewable: false }), 'none'],
    ['does nothing while more than half of the TTL is left', token({ ttl: 2000 }), 'none'],
    ['renews when less than half of the TTL is left', token({ ttl: 1700 }), 'renew'],
    ['renews a periodic token past half its period', token({ ttl: 40_000, creationTtl: 86_400, period: 86_400 }), 'renew'],
    ['logs in again when a non-renewable token is past half its TTL', token({ ttl: 1000, renewable: false }), 'relogin'],
    ['renews a short token that would not outlive the next two checks', token({ ttl: 100, creationTtl: 150 }), 'renew'],
    ['logs in again for a short non-renewable token', token({ ttl: 100, creationTtl: 150, renewable: false }), 'relogin'],
    ['does nothing for a non-renewable token with plenty of TTL', token({ ttl: 3000, renewable: false }), 'none'],
  ];
  for (const [name, lookup, action] of table) {
    it(name, () => assert.equal(decideOnLookup(lookup, settings).action, action));
  }

  it('requests the configured -token-renewal increment', () => {
    const d = decideOnLookup(token({ ttl: 10 }), { incrementSeconds: 1234, checkIntervalSeconds: 60 });
    assert.equal(d.action, 'renew');
    assert.equal(d.action === 'renew' && d.incrementSeconds, 1234);
  });

  it('logs in again when a renewal was capped short of the next checks (Go plugin issue #304)', () => {
    assert.equal(decideAfterRenewal(61, settings).action, 'relogin');
    assert.equal(decideAfterRenewal(1, settings).action, 'relogin');
  });

  it('accepts a renewal that outlives the next checks', () => {
    assert.equal(decideAfterRenewal(3600, settings).action, 'none');
  });
});
