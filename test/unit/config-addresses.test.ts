import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { parseConfig } from '../../src/config/parse';
import { ConfigError, type PluginConfig } from '../../src/config/config';

/** -vault-address as a comma-separated list of the nodes of one cluster (docs/ha.md). */
const AUTH = ['-auth-method=token', '-token=hvs.ABC123'];
const run = (argv: string[], env: Record<string, string> = {}): PluginConfig => {
  const o = parseConfig(argv, env);
  assert.equal(o.kind, 'run');
  return (o as { config: PluginConfig }).config;
};
const fails = (argv: string[], env: Record<string, string>, pattern: RegExp) =>
  assert.throws(() => parseConfig(argv, env), (e: unknown) => e instanceof ConfigError && pattern.test(e.message));

describe('configuration: several Vault addresses', () => {
  it('one address works as before: no list, retries until the deadline unless VAULT_MAX_RETRIES is set', () => {
    const c = run(['-vault-address=https://vault:8200/', ...AUTH]);
    assert.equal(c.vault.address, 'https://vault:8200');
    assert.equal(c.vault.addresses, undefined);
    assert.equal(c.vault.maxRetries, Number.POSITIVE_INFINITY);
    assert.equal(run(['-vault-address=https://vault:8200', ...AUTH], { VAULT_MAX_RETRIES: '3' }).vault.maxRetries, 3);
  });

  it('takes a list from the flag or from either env var, in order, spaces and trailing slashes trimmed', () => {
    const list = 'https://vault-0:8200, https://vault-1:8200/,https://vault-2:8200';
    const expected = ['https://vault-0:8200', 'https://vault-1:8200', 'https://vault-2:8200'];
    assert.deepEqual(run([`-vault-address=${list}`, ...AUTH]).vault.addresses, expected);
    assert.deepEqual(run(AUTH, { VAULT_KMS_VAULT_ADDR: list }).vault.addresses, expected);
    const fromVaultAddr = run(AUTH, { VAULT_ADDR: list }).vault;
    assert.deepEqual(fromVaultAddr.addresses, expected);
    assert.equal(fromVaultAddr.address, expected[0]);
  });

  const invalid: [string, string, RegExp][] = [
    ['an entry that is no URL', 'https://vault-0:8200,vault-1:8200', /-vault-address \(VAULT_KMS_VAULT_ADDR, VAULT_ADDR\).*"vault-1:8200" is not an http/],
    ['an empty entry', 'https://vault-0:8200,,https://vault-1:8200', /-vault-address.*empty entry/],
    ['a trailing comma', 'https://vault-0:8200,', /-vault-address.*empty entry/],
    ['user-info in one entry', 'https://vault-0:8200,https://u:secretpw@vault-1:8200', /-vault-address.*user-info/],
    ['a duplicate', 'https://vault-0:8200,https://vault-0:8200', /-vault-address.*twice/],
  ];
  for (const [name, value, pattern] of invalid) {
    it(`rejects ${name}, naming the flag and its env vars`, () => {
      fails([`-vault-address=${value}`, ...AUTH], {}, pattern);
      fails(AUTH, { VAULT_ADDR: value }, /VAULT_ADDR/);
    });
  }

  it('never echoes a password given in an address', () => {
    for (const argv of [['-vault-address=https://vault-0:8200,https://u:secretpw@vault-1:8200'], ['-vault-address=https://u:secretpw@vault-0:8200']]) {
      assert.throws(
        () => parseConfig([...argv, ...AUTH], {}),
        (e: unknown) => {
          assert.ok(e instanceof ConfigError, `a ConfigError, not ${String(e)}`);
          assert.match(e.message, /-vault-address.*user-info/);
          assert.doesNotMatch(e.message, /secretpw/);
          return true;
        },
      );
    }
  });
});
