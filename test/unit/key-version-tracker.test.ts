import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { KeyVersionTracker } from '../../src/domain/model/key-version-tracker';

describe('key version tracking', () => {
  it('reports no key_id before any version is known', () => {
    assert.equal(new KeyVersionTracker().keyId(), '');
  });

  it('reports the latest version as a decimal key_id, as the Go plugin does', () => {
    const t = new KeyVersionTracker();
    t.observe(3, 'key-read');
    assert.equal(t.keyId(), '3');
  });

  it('learns a rotation from an encrypt response before the next key read', () => {
    const t = new KeyVersionTracker();
    t.observe(1, 'key-read');
    const seen = t.observe(2, 'encrypt');
    assert.equal(seen.changed, true);
    assert.equal(t.keyId(), '2');
  });

  it('never goes backwards on a late encrypt response', () => {
    const t = new KeyVersionTracker();
    t.observe(5, 'key-read');
    t.observe(4, 'encrypt');
    assert.equal(t.keyId(), '5');
    assert.equal(t.regressionDetected(), undefined);
  });

  it('flags a key that was deleted and recreated, keeping the old key_id', () => {
    const t = new KeyVersionTracker();
    t.observe(3, 'key-read');
    const seen = t.observe(1, 'key-read');
    assert.equal(seen.changed, false);
    assert.equal(t.keyId(), '3');
    assert.deepEqual(t.regressionDetected(), { from: 3, to: 1 });
  });

  it('ignores nonsense versions', () => {
    const t = new KeyVersionTracker();
    t.observe(0, 'key-read');
    t.observe(Number.NaN, 'encrypt');
    assert.equal(t.keyId(), '');
  });
});
