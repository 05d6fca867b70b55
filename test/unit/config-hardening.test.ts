import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { parseConfig, withoutUserInfo } from '../../src/config/parse';
import { ConfigError, type PluginConfig } from '../../src/config/config';

/** Configuration rules from the security review (issue 10 items 5, 9, 10, 11). */
const TOKEN_ARGS = ['-vault-address=https://vault.example.com:8200', '-auth-method=token', '-token=hvs.ABC123'];
const run = (argv: string[], env: Record<string, string> = {}): PluginConfig => {
  const o = parseConfig(argv, env);
  assert.equal(o.kind, 'run');
  return (o as { config: PluginConfig }).config;
};
const refused = (argv: string[], pattern: RegExp, env: Record<string, string> = {}) =>
  assert.throws(() => parseConfig(argv, env), (e: unknown) => e instanceof ConfigError && pattern.test(e.message));

describe('configuration hardening', () => {
  it('-vault-redirect-origins (or VAULT_KMS_VAULT_REDIRECT_ORIGINS) lists origins; anything else is refused', () => {
    assert.deepEqual(run([...TOKEN_ARGS, '-vault-redirect-origins=https://vault-1:8200, https://vault-2:8200/']).vault.redirectOrigins, ['https://vault-1:8200', 'https://vault-2:8200']);
    assert.deepEqual(run(TOKEN_ARGS, { VAULT_KMS_VAULT_REDIRECT_ORIGINS: 'http://10.0.0.2:8200' }).vault.redirectOrigins, ['http://10.0.0.2:8200']);
    assert.deepEqual(run(TOKEN_ARGS).vault.redirectOrigins, []);
    refused([...TOKEN_ARGS, '-vault-redirect-origins=https://vault-1:8200/v1/sys'], /-vault-redirect-origins \(VAULT_KMS_VAULT_REDIRECT_ORIGINS\)/);
    refused([...TOKEN_ARGS, '-vault-redirect-origins=ftp://vault-1'], /-vault-redirect-origins/);
  });

  it('refuses user-info in the Vault address and never prints it', () => {
    for (const address of ['https://admin:hunter2@vault:8200', 'http://hunter2@vault:8200']) {
      assert.throws(() => parseConfig(['-vault-address=' + address, '-auth-method=token', '-token=abcdef'], {}), (e: Error) => /user-info/.test(e.message) && !e.message.includes('hunter2'));
    }
    assert.equal(withoutUserInfo('https://a:b@vault:8200/x'), 'https://vault:8200/x');
    assert.equal(withoutUserInfo('garbage a:b@vault'), 'garbage vault');
  });

  it('refuses abstract sockets and socket modes with "other" write; accepts 0600 and 0660', () => {
    refused([...TOKEN_ARGS, '-socket=unix://@kms'], /-socket \(VAULT_KMS_SOCKET\).*abstract/);
    refused([...TOKEN_ARGS, '-socket=unix:///@kms'], /abstract/);
    for (const mode of ['0666', '0777', '0622', '0002']) refused([...TOKEN_ARGS, `-socket-mode=${mode}`], /-socket-mode \(VAULT_KMS_SOCKET_MODE\)/);
    assert.equal(run([...TOKEN_ARGS, '-socket-mode=0660']).socketMode, 0o660);
    assert.equal(run(TOKEN_ARGS).socketMode, 0o600);
  });

  it('names a stray argument by position, never by value', () => {
    assert.throws(() => parseConfig([...TOKEN_ARGS, '-token=', 's.TOPSECRET'], {}), (e: Error) => /position 5 \(value not shown\)/.test(e.message) && !e.message.includes('TOPSECRET'));
  });
});
