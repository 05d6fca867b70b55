import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { FaultProxy, ProxiedServer } from '../support/fault-proxy';
import { makeTestPki, type TestPki } from '../support/test-pki';
import { VaultHttpClient } from '../../src/adapters/vault/vault-http-client';
import { VaultTransitAdapter } from '../../src/adapters/vault/vault-transit.adapter';
import type { VaultClientSettings } from '../../src/adapters/vault/vault-settings';
import { KmsError } from '../../src/ports/errors';
import { withTimeout } from '../../src/ports/call-context';

/** The Vault client's TLS behaviour against OpenBao behind a proxy serving HTTPS (and a plain-HTTP one beside it). */
let pki: TestPki;
let tls: ProxiedServer;
let plain: FaultProxy;
const clients: VaultHttpClient[] = [];
const clock = { now: () => Date.now() };
const ctx = () => withTimeout(Date.now(), 3000);

function transitFor(over: Partial<VaultClientSettings>, token: string): VaultTransitAdapter {
  const http = new VaultHttpClient({ address: tls.url, skipVerify: false, timeoutMs: 60_000, maxRetries: 0, ...over }, clock);
  http.setToken(token);
  clients.push(http);
  return new VaultTransitAdapter(http, 'transit', 'kms');
}

before(async () => {
  pki = makeTestPki();
  tls = await ProxiedServer.start({}, { tls: { certFile: pki.certFile, keyFile: pki.keyFile } });
  plain = await FaultProxy.start(tls.bao.url);
});
after(async () => {
  await Promise.all(clients.map((c) => c.close()));
  await plain.close();
  await tls.close();
});

describe('Vault client TLS', () => {
  it('trusts the server through the CA file', async () => {
    assert.equal((await transitFor({ caCertFile: pki.caFile }, tls.kmsToken).readKey(ctx())).latestVersion, 1);
  });

  it('trusts the server through a CA directory (VAULT_CAPATH)', async () => {
    assert.equal((await transitFor({ caPath: pki.dir }, tls.kmsToken).readKey(ctx())).latestVersion, 1);
  });

  it('refuses a server its CAs do not vouch for, as unavailable with the TLS reason', async () => {
    await assert.rejects(transitFor({}, tls.kmsToken).readKey(ctx()), (e: KmsError) => e.kind === 'unavailable' && /CERT|certificate|SELF_SIGNED/i.test(e.message));
  });

  it('refuses to follow a redirect from https to http', async () => {
    tls.addFault({ path: 'transit/keys', kind: 'redirect', location: plain.url, count: 1 });
    await assert.rejects(transitFor({ caCertFile: pki.caFile }, tls.kmsToken).readKey(ctx()), (e: KmsError) => e.kind === 'unavailable' && /https to http/.test(e.message));
    assert.equal(plain.stats()['transit.keys.read'] ?? 0, 0, 'the token was never sent over plain http');
  });
});
