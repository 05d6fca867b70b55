import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { resolve } from 'node:path';
import { workloadEndpoint } from '../../src/adapters/spiffe/workload-endpoint';
import { SpiffeJwtSource } from '../../src/adapters/spiffe/spiffe-jwt-source';
import { KmsError } from '../../src/ports/errors';

describe('SPIFFE Workload API endpoint (SPIFFE_ENDPOINT_SOCKET forms)', () => {
  it('accepts unix:///path, unix:/path and a bare path, all naming the same socket', () => {
    const socket = (path: string) => ({ target: `unix:${path}`, address: path });
    assert.deepEqual(workloadEndpoint('unix:///run/spire/sockets/agent.sock'), socket('/run/spire/sockets/agent.sock'));
    assert.deepEqual(workloadEndpoint('unix:/run/spire/sockets/agent.sock'), socket('/run/spire/sockets/agent.sock'));
    assert.deepEqual(workloadEndpoint('/run/spire/sockets/agent.sock'), socket('/run/spire/sockets/agent.sock'));
    assert.deepEqual(workloadEndpoint('  unix:///tmp/a%20b.sock '), socket('/tmp/a b.sock'));
    assert.deepEqual(workloadEndpoint('agent.sock'), socket(resolve('agent.sock')));
  });

  it('accepts tcp://<ip>:<port>, the spec\'s other form (IPv4 and IPv6)', () => {
    assert.deepEqual(workloadEndpoint('tcp://127.0.0.1:8081'), { target: 'ipv4:127.0.0.1:8081', address: 'tcp://127.0.0.1:8081' });
    assert.deepEqual(workloadEndpoint('tcp://[::1]:8081'), { target: 'ipv6:[::1]:8081', address: 'tcp://[::1]:8081' });
  });

  for (const [endpoint, why] of [
    ['', /no SPIFFE Workload API endpoint: set -jwt-spiffe-endpoint \(VAULT_KMS_JWT_SPIFFE_ENDPOINT, default SPIFFE_ENDPOINT_SOCKET\)/],
    ['http://127.0.0.1:8081', /use unix:\/\/\/path\/to\/agent.sock \(or tcp:\/\/<ip>:<port>\)/],
    ['tcp://localhost:8081', /a tcp URI is tcp:\/\/<ip address>:<port>, nothing else/],
    ['tcp://127.0.0.1', /a tcp URI is tcp:\/\/<ip address>:<port>, nothing else/],
    ['tcp://127.0.0.1:8081/path', /a tcp URI is tcp:\/\/<ip address>:<port>, nothing else/],
    ['unix://host/run/agent.sock', /no host/],
    ['unix:///run/agent.sock?x=1', /no user, query or fragment/],
    ['unix:run/agent.sock', /must be absolute/],
    ['unix:///', /must be absolute/],
  ] as const) {
    it(`refuses ${JSON.stringify(endpoint)} with a message naming the flag and env var`, () => {
      assert.throws(
        () => workloadEndpoint(endpoint),
        (e: unknown) => e instanceof KmsError && e.kind === 'failed-precondition' && why.test(e.message) && e.message.includes('SPIFFE_ENDPOINT_SOCKET'),
      );
    });
  }

  it('SpiffeJwtSource refuses an empty audience and a SPIFFE ID that is not one', () => {
    assert.throws(() => new SpiffeJwtSource({ endpoint: '/tmp/x.sock', audience: ' ' }), /needs an audience: set -jwt-spiffe-audience \(VAULT_KMS_JWT_SPIFFE_AUDIENCE\)/);
    assert.throws(() => new SpiffeJwtSource({ endpoint: '/tmp/x.sock', audience: 'vault', spiffeId: 'kms.test/x' }), /-jwt-spiffe-id \(VAULT_KMS_JWT_SPIFFE_ID\) "kms.test\/x" is not a SPIFFE ID/);
  });
});
