import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { statSync } from 'node:fs';
import { RealServer } from '../support/real-server';
import { eventually } from '../support/plugin-process';
import { captureOutput, captureSecret, markedPlaintext } from '../support/leak-capture';
import { makeTestPki, type TestPki } from '../support/test-pki';
import { PluginFixture } from '../support/plugin-fixture';

/** TLS to Vault (verification on by default), the /metrics page, and socket permissions. */
let pki: TestPki;
let tlsVault: RealServer;
const plugins = new PluginFixture();

before(async () => {
  pki = makeTestPki();
  captureSecret(pki.keyPem.split('\n').slice(1, 3).join(''));
  // A real OpenBao server (not dev mode) with an HTTPS listener.
  tlsVault = await RealServer.start({ mode: 'server', tls: { certFile: pki.certFile, keyFile: pki.keyFile, caFile: pki.caFile } });
});
after(async () => {
  await plugins.stopAll();
  await tlsVault.close();
});

function start(args: string[], env: Record<string, string> = {}, waitHealthy = true) {
  return plugins.start(args, { env, waitHealthy });
}

const auth = () => ['-auth-method=token', `-token=${tlsVault.kmsToken}`];

describe('TLS to Vault', () => {
  it('verifies the server against -vault-ca-cert', async () => {
    const { client } = await start([`-vault-address=${tlsVault.url}`, ...auth(), `-vault-ca-cert=${pki.caFile}`]);
    assert.equal((await client.encrypt(Buffer.alloc(32))).key_id, '1');
  });

  it('verifies the server against VAULT_CACERT, as the seed TLS example configures it', async () => {
    const { client } = await start([`-vault-address=${tlsVault.url}`, ...auth()], { VAULT_CACERT: pki.caFile });
    assert.equal((await client.encrypt(Buffer.alloc(32))).key_id, '1');
  });

  it('refuses an untrusted certificate by default: unhealthy with the reason, never a crash', async () => {
    const { client, p } = await start([`-vault-address=${tlsVault.url}`, ...auth()], {}, false);
    await eventually(() => client.status(), (s) => /certificate|UNABLE|SELF_SIGNED|verify/i.test(s.healthz), 15_000);
    await assert.rejects(client.encrypt(Buffer.alloc(32)));
    assert.equal(await Promise.race([p.exited.then(() => 'exited'), new Promise((r) => setTimeout(() => r('running'), 50))]), 'running');
  });

  it('checks the name: VAULT_TLS_SERVER_NAME must match the certificate', async () => {
    const ok = await start([`-vault-address=${tlsVault.url}`, ...auth(), `-vault-ca-cert=${pki.caFile}`], { VAULT_TLS_SERVER_NAME: 'vault.test' });
    assert.equal((await ok.client.encrypt(Buffer.alloc(32))).key_id, '1');
    const bad = await start([`-vault-address=${tlsVault.url}`, ...auth(), `-vault-ca-cert=${pki.caFile}`], { VAULT_TLS_SERVER_NAME: 'other.test' }, false);
    await eventually(() => bad.client.status(), (s) => /altname|hostname|certificate|Host/i.test(s.healthz), 15_000);
  });

  it('VAULT_SKIP_VERIFY=true connects, with a warning in the log', async () => {
    const { p, client } = await start([`-vault-address=${tlsVault.url}`, ...auth()], { VAULT_SKIP_VERIFY: 'true' });
    assert.equal((await client.encrypt(Buffer.alloc(32))).key_id, '1');
    await p.waitForLog((l) => /VAULT_SKIP_VERIFY/.test(String(l.message)) && l.level === 'warn');
  });

  it('warns about a plain http:// Vault address', async () => {
    const plain = await RealServer.start();
    try {
      const { p } = await start([`-vault-address=${plain.url}`, '-auth-method=token', `-token=${plain.kmsToken}`]);
      await p.waitForLog((l) => /plain http/.test(String(l.message)) && l.level === 'warn');
    } finally {
      await plain.close();
    }
  });
});

describe('metrics and socket permissions', () => {
  it('serves Prometheus metrics with the Go plugin names, api_version labels and closed label sets', async () => {
    const { p, client } = await start([`-vault-address=${tlsVault.url}`, ...auth(), `-vault-ca-cert=${pki.caFile}`, '-disable-v1=false']);
    const enc = await client.encrypt(markedPlaintext(2));
    await client.decrypt(enc.ciphertext, enc.key_id);
    await client.v1Encrypt(markedPlaintext(3));
    await client.decrypt(Buffer.from('garbage')).catch(() => undefined);
    const port = await p.healthPort();
    const res = await fetch(`http://127.0.0.1:${port}/metrics`);
    assert.equal(res.status, 200);
    const body = await res.text();
    captureOutput('metrics', body);
    for (const name of [
      'vault_kubernetes_kms_encryption_operation_duration_seconds_bucket{le="0.001",api_version="v2"}',
      'vault_kubernetes_kms_decryption_operation_duration_seconds_count{api_version="v2"}',
      'vault_kubernetes_kms_encryption_operation_duration_seconds_count{api_version="v1"}',
      'vault_kubernetes_kms_decryption_operation_errors_total{api_version="v2",error_kind="invalid-argument"}',
      'vault_kubernetes_kms_token_expiry_seconds',
      'vault_kubernetes_kms_vault_requests_duration_seconds_count{operation="transit_encrypt",outcome="2xx"}',
      'vault_kubernetes_kms_transit_key_version 1',
      'vault_kubernetes_kms_healthy 1',
      'vault_kubernetes_kms_process_resident_memory_bytes',
      'vault_kubernetes_kms_nodejs_heap_size_used_bytes',
    ]) {
      assert.ok(body.includes(name), `missing ${name}`);
    }
    assert.equal(/transit\/encrypt|\/v1\/|kms"\}/.test(body), false, 'no raw Vault paths or key names in labels');
  });

  it('creates the socket with -socket-mode=0660 for group access', async () => {
    const { socket } = await start([`-vault-address=${tlsVault.url}`, ...auth(), `-vault-ca-cert=${pki.caFile}`, '-socket-mode=0660']);
    assert.equal(statSync(socket).mode & 0o777, 0o660);
  });
});
