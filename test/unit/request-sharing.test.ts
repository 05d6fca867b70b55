import 'reflect-metadata';
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { CoalescingTransit } from '../../src/domain/services/coalescing-transit';
import { SingleFlight } from '../../src/domain/services/coalescing-transit';
import { KmsError } from '../../src/ports/errors';
import { NO_DEADLINE } from '../../src/ports/call-context';
import { NO_METRICS } from '../../src/ports/metrics.port';
import { FakeClock, FakeTransit, TEST_SETTINGS } from '../support/fakes';
import { domainWithFakes } from '../support/domain-container';

function coalescing(inner: FakeTransit, maxInFlight: number, maxBatch: number): CoalescingTransit {
  return new CoalescingTransit(inner, { ...TEST_SETTINGS, coalescing: { maxInFlight, maxBatch } }, new FakeClock(0), NO_METRICS);
}

function gate() {
  let open!: () => void;
  const promise = new Promise<void>((r) => (open = r));
  return { promise, open };
}

describe('single-flight', () => {
  it('shares one call between concurrent identical keys and forgets it once answered', async () => {
    const sf = new SingleFlight<string>();
    const g = gate();
    let calls = 0;
    const call = async () => {
      calls++;
      await g.promise;
      return 'plain';
    };
    const all = Promise.all(Array.from({ length: 50 }, () => sf.run('k', NO_DEADLINE, call)));
    assert.equal(sf.size, 1);
    g.open();
    assert.deepEqual(new Set(await all), new Set(['plain']));
    assert.equal(calls, 1);
    assert.equal(sf.size, 0, 'no plaintext is kept after the requests it served are answered');
    await sf.run('k', NO_DEADLINE, call);
    assert.equal(calls, 2);
  });

  it('gives a waiter its own cancellation while the shared call goes on for the others', async () => {
    const sf = new SingleFlight<string>();
    const g = gate();
    const ac = new AbortController();
    const first = sf.run('k', NO_DEADLINE, async () => {
      await g.promise;
      return 'x';
    });
    const second = sf.run('k', { deadline: Infinity, signal: ac.signal }, async () => 'never');
    ac.abort();
    await assert.rejects(second, (e: KmsError) => e.kind === 'cancelled');
    g.open();
    assert.equal(await first, 'x');
  });

  it('coalesces 200 concurrent identical Decrypts in the envelope service into one backend request', async () => {
    const d = domainWithFakes();
    const g = gate();
    d.transit.gate = g.promise;
    const ct = Buffer.from(`vault:v1:${Buffer.alloc(32, 1).toString('base64')}`);
    const all = Promise.all(Array.from({ length: 200 }, () => d.envelope.decrypt({ ciphertext: ct }, NO_DEADLINE)));
    g.open();
    const results = await all;
    assert.equal(d.transit.calls.decrypt, 1);
    for (const r of results) assert.deepEqual(Buffer.from(r), Buffer.alloc(32, 1));
  });
});

describe('coalescing transit', () => {
  it('sends a lone request at once, unbatched', async () => {
    const inner = new FakeTransit();
    const c = coalescing(inner, 2, 4);
    await c.encrypt({ plaintext: Buffer.from('a') }, NO_DEADLINE);
    assert.deepEqual(inner.batches, [1]);
  });

  it('queues requests while all slots are busy and sends them as bounded batches, each result to its caller', async () => {
    const inner = new FakeTransit();
    const g = gate();
    inner.gate = g.promise;
    const c = coalescing(inner, 2, 4);
    const inputs = Array.from({ length: 12 }, (_, i) => Buffer.from(`item-${i}`));
    const pending = inputs.map((p) => c.encrypt({ plaintext: p }, NO_DEADLINE));
    g.open();
    const out = await Promise.all(pending);
    // Two go straight out; the other ten wait and leave as batches of at most four.
    assert.deepEqual(inner.batches.slice(0, 2), [1, 1]);
    assert.ok(inner.batches.every((b) => b <= 4));
    assert.equal(inner.batches.reduce((a, b) => a + b, 0), 12);
    assert.ok(inner.batches.length <= 5);
    out.forEach((o, i) => {
      assert.equal(Buffer.from(o.ciphertext.slice('vault:v1:'.length), 'base64').toString(), `item-${i}`);
    });
  });

  it('maps per-item errors back to the right caller', async () => {
    const inner = new FakeTransit();
    const g = gate();
    inner.gate = g.promise;
    const c = coalescing(inner, 1, 8);
    const first = c.decrypt('vault:v1:AAAA', NO_DEADLINE);
    const good = c.decrypt(`vault:v1:${Buffer.from('ok').toString('base64')}`, NO_DEADLINE);
    const bad = c.decrypt('vault:v9:AAAA', NO_DEADLINE);
    g.open();
    await first;
    const [g1, b1] = await Promise.allSettled([good, bad]);
    assert.equal(g1.status, 'fulfilled');
    assert.ok(b1.status === 'rejected' && (b1.reason as KmsError).kind === 'invalid-ciphertext');
    assert.deepEqual(inner.batches, [1, 2]);
  });

  it('fails every caller of a batch when the whole backend request fails', async () => {
    const inner = new FakeTransit();
    inner.failWith = new KmsError('unavailable', 'Vault is sealed');
    const c = coalescing(inner, 1, 8);
    const results = await Promise.allSettled(Array.from({ length: 5 }, () => c.encrypt({ plaintext: Buffer.from('x') }, NO_DEADLINE)));
    assert.ok(results.every((r) => r.status === 'rejected' && (r.reason as KmsError).kind === 'unavailable'));
  });

  it('drops queued requests whose caller has gone before they are sent', async () => {
    const inner = new FakeTransit();
    const g = gate();
    inner.gate = g.promise;
    const c = coalescing(inner, 1, 8);
    const first = c.encrypt({ plaintext: Buffer.from('a') }, NO_DEADLINE);
    const ac = new AbortController();
    const gone = c.encrypt({ plaintext: Buffer.from('b') }, { deadline: Infinity, signal: ac.signal });
    ac.abort();
    await assert.rejects(gone, (e: KmsError) => e.kind === 'cancelled');
    g.open();
    await first;
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(inner.batches, [1], 'the cancelled request never reached the backend');
  });
});
