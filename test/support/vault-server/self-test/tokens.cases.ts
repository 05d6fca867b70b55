/**
 * Token lifecycle against the server clock: lookup TTL, renew maths,
 * max-TTL capping, expiry, periodic tokens, num_uses, revocation.
 * The clock is frozen, so every number is exact.
 */
import assert from 'node:assert/strict';
import { beforeEach, describe, test } from 'node:test';
import { call, useVaultServer } from './http';

export function tokenCases(): void {
  describe('tokens', () => {
    const vault = useVaultServer();
    beforeEach(() => {
      vault().reset();
      vault().freezeClock();
    });
    const lookup = (token: string) => call(vault(), 'GET', 'auth/token/lookup-self', { token });
    const renew = (token: string, body: unknown = {}) => call(vault(), 'POST', 'auth/token/renew-self', { token, body });

    test('kms token: lookup-self fields and ttl from the server clock', async () => {
      const res = await lookup(vault().kmsToken);
      assert.equal(res.status, 200);
      assert.equal(res.json.mount_type, 'token');
      const data = res.json.data;
      assert.deepEqual(Object.keys(data), [...Object.keys(data)].sort());
      assert.deepEqual(data.policies, ['default', 'kms']);
      assert.equal(data.creation_ttl, 86400);
      assert.equal(data.renewable, true);
      assert.equal(data.orphan, true);
      assert.equal(data.type, 'service');
      assert.equal(data.id, vault().kmsToken);
      assert.equal(data.accessor.length, 24);
      // The seeded token was minted before the freeze, within the same or the previous second.
      assert.ok(data.ttl === 86400 || data.ttl === 86399);
      vault().advanceClock(600);
      assert.equal((await lookup(vault().kmsToken)).json.data.ttl, data.ttl - 600);
      assert.match(vault().kmsToken, /^hvs\.[A-Za-z0-9]+$/);
    });

    test('root token lookup: no expiry, no lease fields', async () => {
      const data = (await lookup(vault().rootToken)).json.data;
      assert.equal(data.ttl, 0);
      assert.equal(data.expire_time, null);
      assert.equal(data.renewable, undefined);
      assert.deepEqual(data.policies, ['root']);
      const res = await renew(vault().rootToken);
      assert.deepEqual(res.json, { errors: ['lease is not renewable'] });
    });

    test('renew-self: increment from now, number or duration string', async () => {
      const { token } = vault().createToken({ policies: ['kms'], ttl: '30m' });
      vault().advanceClock(100);
      const byString = await renew(token, { increment: '1h' });
      assert.equal(byString.status, 200);
      assert.equal(byString.json.data, null);
      assert.equal(byString.json.auth.lease_duration, 3600);
      assert.deepEqual(Object.keys(byString.json.auth), [
        'client_token',
        'accessor',
        'policies',
        'token_policies',
        'metadata',
        'lease_duration',
        'renewable',
        'entity_id',
        'token_type',
        'orphan',
        'mfa_requirement',
        'num_uses',
      ]);
      assert.equal((await renew(token, { increment: 120 })).json.auth.lease_duration, 120);
      const after = (await lookup(token)).json.data;
      assert.equal(after.ttl, 120);
      assert.equal(after.creation_ttl, 1800, 'creation_ttl never changes');
      assert.equal(typeof after.last_renewal_time, 'number');
      assert.equal((await renew(token)).json.auth.lease_duration, 120, 'no increment: current TTL');
    });

    test('renewal is capped by explicit_max_ttl with the capped warning, then the token expires', async () => {
      const { token } = vault().createToken({ policies: ['kms'], ttl: 300, explicitMaxTtl: '10m' });
      vault().advanceClock(2);
      const capped = await renew(token, { increment: '1h' });
      assert.equal(capped.status, 200);
      assert.equal(capped.json.auth.lease_duration, 598);
      assert.deepEqual(capped.json.warnings, ['TTL of "1h" exceeded the effective max_ttl of "9m58s"; TTL value is capped accordingly']);
      vault().advanceClock(500);
      assert.equal((await renew(token, { increment: 3600 })).json.auth.lease_duration, 98, 'lease_duration shrinks');
      vault().advanceClock(98);
      const expired = await lookup(token);
      assert.equal(expired.status, 403);
      assert.match(expired.json.errors[0], /invalid token/);
    });

    test('expiry without renewal; revoke-self and revoke', async () => {
      const a = vault().createToken({ policies: ['kms'], ttl: 60 });
      vault().advanceClock(59);
      assert.equal((await lookup(a.token)).status, 200);
      vault().advanceClock(1);
      assert.equal((await lookup(a.token)).status, 403);

      const b = vault().createToken({ policies: ['kms'] });
      assert.equal(b.leaseDuration, 768 * 3600, 'system default TTL');
      assert.equal((await call(vault(), 'POST', 'auth/token/revoke-self', { token: b.token })).status, 204);
      assert.equal((await lookup(b.token)).status, 403);

      const c = vault().createToken({ policies: ['kms'] });
      const revoke = await call(vault(), 'POST', 'auth/token/revoke', { token: vault().rootToken, body: { token: c.token } });
      assert.equal(revoke.status, 204);
      assert.equal((await lookup(c.token)).status, 403);
    });

    test('periodic tokens renew to the period; non-renewable tokens refuse', async () => {
      const periodic = vault().createToken({ policies: ['kms'], period: '1h' });
      vault().advanceClock(1000);
      const res = await renew(periodic.token, { increment: 60 });
      assert.equal(res.json.auth.lease_duration, 3600);
      assert.equal((await lookup(periodic.token)).json.data.period, 3600);
      const fixed = vault().createToken({ policies: ['kms'], ttl: 600, renewable: false });
      const refused = await renew(fixed.token);
      assert.equal(refused.status, 400);
      assert.deepEqual(refused.json, { errors: ['lease is not renewable'] });
    });

    test('num_uses: each request spends one; the last one still succeeds', async () => {
      const { token } = vault().createToken({ policies: ['kms'], numUses: 2 });
      const first = await lookup(token);
      assert.equal(first.json.data.num_uses, 1);
      assert.equal((await lookup(token)).status, 200);
      assert.equal((await lookup(token)).status, 403);
    });

    test('token create over HTTP: auth block, child policy subset, orphans', async () => {
      const created = await call(vault(), 'POST', 'auth/token/create', {
        token: vault().rootToken,
        body: { policies: ['kms'], ttl: '1h', meta: { team: 'a' } },
      });
      assert.equal(created.status, 200);
      assert.equal(created.json.auth.lease_duration, 3600);
      assert.equal(created.json.auth.orphan, false);
      assert.deepEqual(created.json.auth.metadata, { team: 'a' });
      assert.deepEqual(created.json.auth.policies, ['default', 'kms']);
      const child = created.json.auth.client_token as string;
      const denied = await call(vault(), 'POST', 'auth/token/create', { token: child, body: { policies: ['kms'] } });
      assert.equal(denied.status, 403, 'kms policy has no auth/token/create');
      await call(vault(), 'POST', 'auth/token/revoke-self', { token: vault().rootToken });
      assert.equal((await lookup(child)).status, 403, 'children die with their parent');
      assert.equal((await lookup(vault().kmsToken)).status, 200, 'orphans survive');
    });
  });
}
