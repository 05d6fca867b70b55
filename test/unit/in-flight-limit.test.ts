import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { InFlightLimit } from '../../src/adapters/grpc/grpc-server';

describe('InFlightLimit: admission before a request is read', () => {
  it('takes unread calls up to its bound, and one more when one was read', () => {
    const limit = new InFlightLimit(1024, 4096, 3);
    assert.deepEqual([limit.tryStartRead(), limit.tryStartRead(), limit.tryStartRead(), limit.tryStartRead()], [true, true, true, false]);
    limit.readDone();
    assert.equal(limit.tryStartRead(), true);
  });

  it('refuses new calls unread once the held requests leave less than 64 KiB of the budget, and takes them again once released', () => {
    const limit = new InFlightLimit(1024, 4 * 1024 * 1024, 256);
    assert.equal(limit.tryAcquire(4 * 1024 * 1024 - 64 * 1024), true);
    assert.equal(limit.tryStartRead(), true, 'exactly 64 KiB left: read');
    limit.readDone();
    assert.equal(limit.tryAcquire(1), true);
    assert.equal(limit.tryStartRead(), false, 'less than 64 KiB left: refused unread');
    limit.release(1);
    assert.equal(limit.tryStartRead(), true);
  });

  it('refuses new calls unread while the held calls reach their count', () => {
    const limit = new InFlightLimit(2, 1 << 20, 256);
    assert.ok(limit.tryAcquire(10) && limit.tryAcquire(10));
    assert.equal(limit.tryStartRead(), false);
  });
});
