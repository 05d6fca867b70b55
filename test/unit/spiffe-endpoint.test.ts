import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { resolve } from 'node:path';
import { workloadSocketPath } from '../../src/adapters/spiffe/workload-endpoint';
import { SpiffeJwtSource } from '../../src/adapters/spiffe/spiffe-jwt-source';
import { KmsError } from '../../src/ports/errors';

describe('SPIFFE Workload API endpoint (SPIFFE_ENDPOINT_SOCKET forms)', () => {
  it('accepts unix:///path, unix:/path and a bare path, all naming the same socket', () => {
    assert.equal(workloadSocketPath('unix:///run/spire/sockets/agent.sock'), '/run/spire/sockets/agent.sock');
    assert.equal(workloadSocketPath('unix:/run/spire/sockets/agent.sock'), '/run/spire/sockets/agent.sock');
    assert.equal(workloadSocketPath('/run/spire/sockets/agent.sock'), '/run/spire/sockets/agent.sock');
    assert.equal(workloadSocketPath('  unix:///tmp/a%20b.sock '), '/tmp/a b.sock');
    assert.equal(workloadSocketPath('agent.sock'), resolve('agent.sock'));
  });

  for (const [endpoint, why] of [
    ['', /no SPIFFE Workload API endpoint: set -jwt-spiffe-endpoint \(VAULT_KMS_JWT_SPIFFE_ENDPOINT, default SPIFFE_ENDPOINT_SOCKET\)/],
    ['tcp://127.0.0.1:8081', /only unix sockets are supported/],
    ['unix://host/run/agent.sock', /no host, query or fragment/],
    ['unix:///run/agent.sock?x=1', /no host, query or fragment/],
    ['unix:run/agent.sock', /must be absolute/],
    ['unix:///', /must be absolute/],
  ] as const) {
    it(`refuses ${JSON.stringify(endpoint)} with a message naming the flag and env var`, () => {
      assert.throws(
        () => workloadSocketPath(endpoint),
        (e: unknown) => e instanceof KmsError && e.kind === 'failed-precondition' && why.test(e.message) && e.message.includes('SPIFFE_ENDPOINT_SOCKET'),
      );
    });
  }

  it('SpiffeJwtSource refuses an empty audience and a SPIFFE ID that is not one', () => {
    assert.throws(() => new SpiffeJwtSource({ endpoint: '/tmp/x.sock', audience: ' ' }), /needs an audience: set -jwt-spiffe-audience \(VAULT_KMS_JWT_SPIFFE_AUDIENCE\)/);
    assert.throws(() => new SpiffeJwtSource({ endpoint: '/tmp/x.sock', audience: 'vault', spiffeId: 'kms.test/x' }), /-jwt-spiffe-id \(VAULT_KMS_JWT_SPIFFE_ID\) "kms.test\/x" is not a SPIFFE ID/);
  });
});
