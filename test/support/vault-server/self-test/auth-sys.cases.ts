/**
 * AppRole login and renewal, ACL policies, unknown paths, seal and health.
 */
import assert from 'node:assert/strict';
import { beforeEach, describe, test } from 'node:test';
import { b64, call, useVaultServer } from './http';

export function authAndSysCases(): void {
  describe('approle', () => {
    const vault = useVaultServer();
    beforeEach(() => {
      vault().reset();
      vault().freezeClock();
    });
    const login = (body: unknown) => call(vault(), 'POST', 'auth/approle/login', { body });

    test('login returns an orphan service token with role metadata', async () => {
      const res = await login({ role_id: vault().roleId, secret_id: vault().secretId });
      assert.equal(res.status, 200);
      assert.equal(res.json.mount_type, 'approle');
      assert.equal(res.json.data, null);
      const auth = res.json.auth;
      assert.equal(auth.lease_duration, 3600);
      assert.equal(auth.orphan, true);
      assert.equal(auth.renewable, true);
      assert.equal(auth.token_type, 'service');
      assert.deepEqual(auth.metadata, { role_name: 'kms' });
      assert.deepEqual(auth.policies, ['default', 'kms']);
      assert.match(auth.entity_id, /^[0-9a-f-]{36}$/);
      const enc = await call(vault(), 'POST', 'transit/encrypt/kms', { token: auth.client_token, body: { plaintext: b64('x') } });
      assert.equal(enc.status, 200);
      const me = await call(vault(), 'GET', 'auth/token/lookup-self', { token: auth.client_token });
      assert.equal(me.json.data.path, 'auth/approle/login');
      assert.deepEqual(me.json.data.meta, { role_name: 'kms' });
    });

    test('bad credentials are 400 invalid role or secret ID; lock gives 403', async () => {
      assert.deepEqual((await login({ role_id: vault().roleId, secret_id: 'nope' })).json, { errors: ['invalid role or secret ID'] });
      assert.deepEqual((await login({ role_id: 'nope', secret_id: vault().secretId })).json, { errors: ['invalid role or secret ID'] });
      assert.deepEqual((await login({ role_id: vault().roleId })).json, { errors: ['missing secret_id'] });
      assert.deepEqual((await login({ secret_id: vault().secretId })).json, { errors: ['missing role_id'] });
      vault().lockAppRole(true);
      const locked = await login({ role_id: vault().roleId, secret_id: vault().secretId });
      assert.equal(locked.status, 403);
      assert.deepEqual(locked.json, { errors: ['permission denied'] });
      await call(vault(), 'POST', '/_test/approle/lock', { body: { locked: false } });
      assert.equal((await login({ role_id: vault().roleId, secret_id: vault().secretId })).status, 200);
    });

    test('secret IDs: num_uses, ttl, destroy', async () => {
      const once = vault().createSecretId('kms', { numUses: 1 });
      assert.equal((await login({ role_id: vault().roleId, secret_id: once.secretId })).status, 200);
      assert.equal((await login({ role_id: vault().roleId, secret_id: once.secretId })).status, 400);
      const short = vault().createSecretId('kms', { ttl: 60 });
      vault().advanceClock(61);
      assert.equal((await login({ role_id: vault().roleId, secret_id: short.secretId })).status, 400);
      const viaHttp = await call(vault(), 'POST', 'auth/approle/role/kms/secret-id', { token: vault().rootToken, body: {} });
      const secretId = viaHttp.json.data.secret_id as string;
      assert.equal((await login({ role_id: vault().roleId, secret_id: secretId })).status, 200);
      const destroy = await call(vault(), 'POST', 'auth/approle/role/kms/secret-id/destroy', {
        token: vault().rootToken,
        body: { secret_id: secretId },
      });
      assert.equal(destroy.status, 204);
      assert.equal((await login({ role_id: vault().roleId, secret_id: secretId })).status, 400);
    });

    test('roles over HTTP; renewal re-reads the role and caps at token_max_ttl', async () => {
      const root = vault().rootToken;
      const write = await call(vault(), 'POST', 'auth/approle/role/app', {
        token: root,
        body: { token_ttl: '10m', token_max_ttl: '1h', token_policies: 'kms', secret_id_num_uses: 0 },
      });
      assert.equal(write.status, 204);
      const roleId = (await call(vault(), 'GET', 'auth/approle/role/app/role-id', { token: root })).json.data.role_id;
      const secretId = (await call(vault(), 'POST', 'auth/approle/role/app/secret-id', { token: root })).json.data.secret_id;
      const token = (await login({ role_id: roleId, secret_id: secretId })).json.auth.client_token as string;
      const renew = (body: unknown = {}) => call(vault(), 'POST', 'auth/token/renew-self', { token, body });
      assert.equal((await renew()).json.auth.lease_duration, 600);
      await call(vault(), 'POST', 'auth/approle/role/app', { token: root, body: { token_ttl: 120 } });
      assert.equal((await renew()).json.auth.lease_duration, 120);
      assert.equal((await renew({ increment: 3600 })).json.auth.lease_duration, 3600, 'increment wins over token_ttl');
      vault().advanceClock(3600 - 100);
      const capped = await renew({ increment: '1h' });
      assert.equal(capped.json.auth.lease_duration, 100);
      assert.deepEqual(capped.json.warnings, ['TTL of "1h" exceeded the effective max_ttl of "1m40s"; TTL value is capped accordingly']);
      const periodic = await call(vault(), 'POST', 'auth/approle/role/app', { token: root, body: { token_period: '30m' } });
      assert.equal(periodic.status, 204);
      assert.equal((await renew()).json.auth.lease_duration, 1800, 'periodic: TTL = period');
      vault().advanceClock(1000); // now past issue + token_max_ttl
      const again = await renew({ increment: 60 });
      assert.equal(again.json.auth.lease_duration, 1800, 'periodic tokens escape token_max_ttl');
      assert.equal(again.json.warnings, null);
    });
  });

  describe('policies and routing', () => {
    const vault = useVaultServer();
    beforeEach(() => vault().reset());

    test('kms policy denies what kms-policy.hcl does not grant', async () => {
      const kms = vault().kmsToken;
      for (const [method, path] of [
        ['POST', 'transit/keys/kms/rotate'],
        ['POST', 'transit/encrypt/other'],
        ['GET', 'transit/keys/other'],
        ['POST', 'sys/seal'],
        ['GET', 'sys/policies/acl/kms'],
      ] as const) {
        const res = await call(vault(), method, path, { token: kms, body: {} });
        assert.equal(res.status, 403, path);
        // A valid token lacking a capability: the multierror form, as real OpenBao 2.7.2 answers.
        assert.deepEqual(res.json, { errors: ['1 error occurred:\n\t* permission denied\n\n'] }, path);
      }
    });

    test('custom JSON policies with globs', async () => {
      const root = vault().rootToken;
      const write = await call(vault(), 'POST', 'sys/policies/acl/reader', {
        token: root,
        body: { rules: [{ path: 'transit/keys/*', capabilities: ['read'] }, { path: 'transit/+/kms', capabilities: ['update'] }] },
      });
      assert.equal(write.status, 204);
      const { token } = vault().createToken({ policies: ['reader'] });
      assert.equal((await call(vault(), 'GET', 'transit/keys/kms', { token })).status, 200);
      assert.equal((await call(vault(), 'POST', 'transit/encrypt/kms', { token, body: { plaintext: b64('x') } })).status, 200);
      assert.equal((await call(vault(), 'POST', 'transit/keys/kms/rotate', { token })).status, 403);
      const hcl = await call(vault(), 'POST', 'sys/policies/acl/bad', { token: root, body: { policy: 'path "x" {}' } });
      assert.equal(hcl.status, 400);
      const vaultJson = await call(vault(), 'POST', 'sys/policies/acl/rotator', {
        token: root,
        body: { policy: JSON.stringify({ path: { 'transit/keys/kms/rotate': { capabilities: ['update'] } } }) },
      });
      assert.equal(vaultJson.status, 204);
      const rotator = vault().createToken({ policies: ['rotator'] }).token;
      assert.equal((await call(vault(), 'POST', 'transit/keys/kms/rotate', { token: rotator })).status, 200);
    });

    test('unknown paths: 404 for root, 403 for others; 405 for wrong verbs', async () => {
      const root = await call(vault(), 'GET', 'foo/bar', { token: vault().rootToken });
      assert.equal(root.status, 404);
      assert.deepEqual(root.json, { errors: ['no handler for route "foo/bar". route entry not found.'] });
      assert.equal((await call(vault(), 'GET', 'foo/bar', { token: vault().kmsToken })).status, 403);
      const unsupported = await call(vault(), 'GET', 'transit/nothing', { token: vault().rootToken });
      assert.equal(unsupported.status, 404);
      assert.match(unsupported.json.errors[0], /unsupported path/);
      const wrongVerb = await call(vault(), 'GET', 'transit/encrypt/kms', { token: vault().rootToken });
      assert.equal(wrongVerb.status, 405);
    });
  });

  describe('seal and health', () => {
    const vault = useVaultServer();
    beforeEach(() => vault().reset());

    test('sealed: 503 everywhere except health, seal-status and unseal', async () => {
      vault().seal();
      const enc = await call(vault(), 'POST', 'transit/encrypt/kms', { token: vault().kmsToken, body: { plaintext: b64('x') } });
      assert.equal(enc.status, 503);
      assert.equal(enc.text, '{"errors":["Vault is sealed"]}\n');
      assert.equal((await call(vault(), 'POST', 'auth/approle/login', { body: {} })).status, 503);
      const health = await call(vault(), 'GET', 'sys/health');
      assert.equal(health.status, 503);
      assert.equal(health.json.sealed, true);
      assert.equal(health.json.cluster_name, undefined);
      assert.equal((await call(vault(), 'GET', 'sys/health?sealedcode=200')).status, 200);
      const status = await call(vault(), 'GET', 'sys/seal-status');
      assert.equal(status.status, 200);
      assert.equal(status.json.sealed, true);
      const unseal = await call(vault(), 'POST', 'sys/unseal', { body: { key: 'anything' } });
      assert.equal(unseal.json.sealed, false);
      assert.equal((await call(vault(), 'POST', 'sys/seal', { token: vault().rootToken })).status, 204);
      assert.equal((await call(vault(), 'GET', 'sys/health')).status, 503);
      vault().unseal();
    });

    test('health query codes and body', async () => {
      vault().freezeClock();
      const res = await call(vault(), 'GET', 'sys/health?activecode=299');
      assert.equal(res.status, 299);
      assert.equal(res.json.initialized, true);
      assert.equal(res.json.server_time_utc, vault().nowSeconds());
      assert.ok(res.text.endsWith('}\n'));
      assert.equal((await call(vault(), 'GET', 'sys/health?activecode=abc')).text, '{"errors":[]}\n');
      assert.equal((await call(vault(), 'GET', 'sys/health?standbyok=maybe')).status, 400);
      assert.equal((await call(vault(), 'HEAD', 'sys/health')).status, 200);
    });
  });
}
