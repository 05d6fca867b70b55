import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { batchData, decryptData, encryptData } from '../../src/adapters/vault/schemas';
import { fastBatchResults, fastDecryptData, fastEncryptData } from '../../src/adapters/vault/transit-shapes';

/**
 * The hand-written Transit answer checks of the request path against the zod
 * schemas they stand in for: whenever a check accepts a body, zod accepts it
 * too and reads the same values; when zod refuses a body, the check refuses it
 * (so the adapter falls back to zod, which words the error). Bodies are what
 * JSON.parse can return (no undefined values).
 */
const field = fc.oneof(
  fc.string({ maxLength: 8 }),
  fc.constantFrom('', 'vault:v1:abc', 'aGVsbG8='),
  fc.integer({ min: -3, max: 5 }),
  fc.constantFrom(1.5, Number.MAX_SAFE_INTEGER, '3', '-1', 'x', true, null),
  fc.jsonValue({ maxDepth: 1 }),
);
const item = fc.record({ ciphertext: field, plaintext: field, key_version: field, error: field, extra: field }, { requiredKeys: [] });
const body = fc.oneof(
  fc.jsonValue({ maxDepth: 3 }),
  fc.record({ data: fc.oneof(item, fc.jsonValue({ maxDepth: 2 })) }, { requiredKeys: [] }),
  fc.record({ data: fc.record({ batch_results: fc.oneof(fc.array(item, { maxLength: 4 }), fc.jsonValue({ maxDepth: 2 })) }, { requiredKeys: [] }) }),
  fc.constant(undefined),
);

function agree<T>(fast: (b: unknown) => T | undefined, zod: (b: unknown) => { success: boolean; data?: unknown }): void {
  fc.assert(
    fc.property(body, (b) => {
      const quick = fast(b);
      const full = zod(b);
      if (!full.success) assert.equal(quick, undefined, `accepted what zod refuses: ${JSON.stringify(b)}`);
      if (quick !== undefined) assert.deepEqual(quick, full.data);
    }),
    { numRuns: 3000 },
  );
}

describe('Transit answer checks on the request path (property-based)', () => {
  it('decrypt: accepts only what the zod schema accepts, with the same values', () => {
    agree(fastDecryptData, (b) => decryptData.safeParse(b));
  });

  it('encrypt: accepts only what the zod schema accepts, with the same values', () => {
    agree(fastEncryptData, (b) => encryptData.safeParse(b));
  });

  it('batch: accepts only what the zod schema accepts, with the same items', () => {
    agree(fastBatchResults, (b) => {
      const r = batchData.safeParse(b);
      return r.success ? { success: true, data: r.data.data.batch_results } : { success: false };
    });
  });

  it('accepts the answers Vault and OpenBao send', () => {
    assert.deepEqual(fastDecryptData({ request_id: 'r', data: { plaintext: 'aGk=' }, warnings: null }), { data: { plaintext: 'aGk=' } });
    assert.deepEqual(fastEncryptData({ data: { ciphertext: 'vault:v2:xyz', key_version: 2 } }), { data: { ciphertext: 'vault:v2:xyz', key_version: 2 } });
    assert.deepEqual(fastBatchResults({ data: { batch_results: [{ plaintext: 'aGk=' }, { error: 'bad', reference: '' }] } }), [{ plaintext: 'aGk=' }, { error: 'bad' }]);
  });
});
