import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { VaultTransitAdapter } from '../../src/adapters/vault/vault-transit.adapter';
import { VaultTokenSessionAdapter } from '../../src/adapters/vault/vault-token-session.adapter';
import { classifyVaultError } from '../../src/adapters/vault/vault-errors';
import type { VaultHttpClient, VaultResponse } from '../../src/adapters/vault/vault-http-client';
import { KmsError } from '../../src/ports/errors';
import { NO_DEADLINE } from '../../src/ports/call-context';

/**
 * Every Vault response parser fed arbitrary statuses and JSON: it returns
 * outcomes of the right shape or throws a KmsError — never anything else.
 */
const KINDS = new Set(['invalid-argument', 'invalid-ciphertext', 'permission-denied', 'unavailable', 'deadline-exceeded', 'cancelled', 'failed-precondition', 'internal']);
const ctx = NO_DEADLINE;

function cannedHttp(res: VaultResponse): VaultHttpClient {
  return { request: async () => res, setToken() {}, close: async () => {} } as unknown as VaultHttpClient;
}

const statusArb = fc.oneof(fc.constantFrom(200, 204, 400, 403, 404, 412, 429, 500, 502, 503), fc.integer({ min: 100, max: 599 }));
const plausible = fc.oneof(
  fc.jsonValue(),
  fc.record({ data: fc.jsonValue() }),
  fc.record({ data: fc.record({ ciphertext: fc.jsonValue(), plaintext: fc.jsonValue(), key_version: fc.jsonValue(), batch_results: fc.array(fc.jsonValue(), { maxLength: 5 }) }, { requiredKeys: [] }) }),
  fc.record({ auth: fc.jsonValue(), warnings: fc.jsonValue() }),
  fc.record({ errors: fc.array(fc.string(), { maxLength: 3 }) }),
  fc.constant(undefined),
);

async function outcomeOrKmsError(p: Promise<unknown>): Promise<void> {
  try {
    await p;
  } catch (e) {
    assert.ok(e instanceof KmsError, `threw ${String(e)}`);
    assert.ok(KINDS.has(e.kind));
  }
}

describe('Vault response parsers (property-based)', () => {
  it('transit encrypt/decrypt/readKey, single and batch', async () => {
    await fc.assert(
      fc.asyncProperty(statusArb, plausible, fc.integer({ min: 1, max: 3 }), async (status, body, n) => {
        const t = new VaultTransitAdapter(cannedHttp({ status, body }), 'transit', 'kms');
        const items = Array.from({ length: n }, () => ({ plaintext: Buffer.from('x') }));
        await outcomeOrKmsError(
          t.encrypt(items, ctx).then((out) => {
            assert.equal(out.length, n);
            for (const o of out) if (o.ok) assert.ok(typeof o.ciphertext === 'string' && Number.isInteger(o.keyVersion));
          }),
        );
        await outcomeOrKmsError(t.decrypt(items.map(() => 'vault:v1:AAAA'), ctx).then((out) => assert.equal(out.length, n)));
        await outcomeOrKmsError(t.readKey(ctx).then((k) => assert.ok(Number.isInteger(k.latestVersion))));
      }),
      { numRuns: 400 },
    );
  });

  it('token lookup and renewal', async () => {
    await fc.assert(
      fc.asyncProperty(statusArb, plausible, async (status, body) => {
        const s = new VaultTokenSessionAdapter(cannedHttp({ status, body }));
        await outcomeOrKmsError(s.lookupSelf(ctx).then((l) => assert.ok(Number.isFinite(l.ttl))));
        await outcomeOrKmsError(s.renewSelf(60, ctx).then((r) => assert.ok(Number.isFinite(r.leaseDurationSeconds))));
      }),
      { numRuns: 300 },
    );
  });

  it('error classification always yields a known kind and a bounded one-line message', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 999 }), fc.array(fc.string({ maxLength: 500 }), { maxLength: 5 }), (status, errors) => {
        const e = classifyVaultError(status, errors, { what: 'test', path: 'transit/decrypt/kms', capability: 'update' });
        assert.ok(KINDS.has(e.kind));
        assert.ok(e.message.length < 400);
      }),
      { numRuns: 500 },
    );
  });
});
