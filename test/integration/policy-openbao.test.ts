import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { VaultHttpClient } from '../../src/adapters/vault/vault-http-client';
import { VaultTransitAdapter } from '../../src/adapters/vault/vault-transit.adapter';
import { VaultTokenSessionAdapter } from '../../src/adapters/vault/vault-token-session.adapter';
import { withTimeout } from '../../src/ports/call-context';
import { RealServer } from '../support/real-server';
import { REPO_ROOT } from '../support/plugin-process';

/**
 * manifests/kms-policy.hcl, loaded into real OpenBao as written (OpenBao parses
 * the HCL, not we): sys/capabilities says it grants exactly what the plugin
 * uses, the plugin's own Vault adapters can do everything they do with a
 * token holding only that policy, and each rule is needed.
 */
const POLICY = readFileSync(join(REPO_ROOT, 'manifests/kms-policy.hcl'), 'utf8');
const PATHS: Record<string, string[]> = {
  'auth/token/lookup-self': ['read'],
  'auth/token/renew-self': ['update'],
  'transit/encrypt/kms': ['update'],
  'transit/decrypt/kms': ['update'],
  'transit/keys/kms': ['read'],
};
/** The policy text without one path block (OpenBao still parses what is left). */
const without = (path: string) => POLICY.replace(new RegExp(`path "${path.replace(/\//g, '\\/')}" \\{[^}]*\\}`), '');

let bao: RealServer;
before(async () => {
  bao = await RealServer.start();
});
after(() => bao.close());

async function tokenWith(policy: string, name: string): Promise<string> {
  await bao.writePolicy(name, policy);
  return (await bao.createToken({ policies: [name], no_default_policy: true, ttl: '1h', renewable: true })).token;
}

/** Everything the plugin does with Vault after login; the names of the steps that failed. */
async function exercise(token: string): Promise<string[]> {
  const ctx = () => withTimeout(Date.now(), 5000);
  const http = new VaultHttpClient({ address: bao.url, skipVerify: false, timeoutMs: 5000, maxRetries: 0 }, { now: () => Date.now() });
  http.setToken(token);
  const transit = new VaultTransitAdapter(http, 'transit', 'kms');
  const session = new VaultTokenSessionAdapter(http);
  const failed: string[] = [];
  const step = async (name: string, op: () => Promise<unknown>) => {
    try {
      const results = await op();
      if (Array.isArray(results) && results.some((r: { ok?: boolean }) => r.ok === false)) failed.push(name);
    } catch {
      failed.push(name);
    }
  };
  try {
    const [sealed] = await transit.encrypt([{ plaintext: Buffer.from('seed') }], ctx()).catch(() => []);
    if (!sealed?.ok) failed.push('encrypt');
    const ciphertext = sealed?.ok ? sealed.ciphertext : (await bao.mustOk('POST', 'transit/encrypt/kms', { plaintext: 'c2VlZA==' })).json.data.ciphertext;
    await step('encrypt pinned', () => transit.encrypt([{ plaintext: Buffer.from('a'), keyVersion: 1 }], ctx()));
    await step('encrypt batch', () => transit.encrypt([{ plaintext: Buffer.from('a'), keyVersion: 1 }, { plaintext: Buffer.from('b') }], ctx()));
    await step('decrypt', () => transit.decrypt([ciphertext], ctx()));
    await step('decrypt batch', () => transit.decrypt([ciphertext, ciphertext], ctx()));
    await step('read key', () => transit.readKey(ctx()));
    await step('lookup-self', () => session.lookupSelf(ctx()));
    await step('renew-self', () => session.renewSelf(3600, ctx()));
  } finally {
    await http.close();
  }
  return failed;
}

describe('manifests/kms-policy.hcl on real OpenBao', () => {
  it('grants exactly what the plugin uses for the default mount and key, and nothing else', async () => {
    const token = await tokenWith(POLICY, 'kms-under-test');
    for (const [path, capabilities] of Object.entries(PATHS)) {
      const res = await bao.mustOk('POST', 'sys/capabilities', { token, paths: [path] });
      assert.deepEqual(res.json.data[path], capabilities, path);
    }
    for (const path of ['transit/keys/kms/rotate', 'transit/encrypt/other', 'transit/keys/kms/config', 'sys/seal', 'auth/token/create']) {
      const res = await bao.mustOk('POST', 'sys/capabilities', { token, paths: [path] });
      assert.deepEqual(res.json.data[path], ['deny'], path);
    }
  });

  it("lets the plugin's own Vault adapters do all they do, and every rule is needed", async () => {
    assert.deepEqual(await exercise(await tokenWith(POLICY, 'kms-full')), [], 'the policy allows every request the plugin makes');
    for (const path of Object.keys(PATHS)) {
      const partial = without(path);
      assert.notEqual(partial, POLICY, `the policy has a block for ${path}`);
      const failed = await exercise(await tokenWith(partial, `kms-without-${path.replace(/\//g, '-')}`));
      assert.notDeepEqual(failed, [], `without "${path}" something the plugin does fails`);
    }
  });
});
