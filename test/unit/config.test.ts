import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { parseConfig } from '../../src/config/parse';
import { ConfigError, type PluginConfig } from '../../src/config/config';
import { OPTIONS } from '../../src/config/options';

const run = (argv: string[], env: Record<string, string> = {}): PluginConfig => {
  const o = parseConfig(argv, env);
  assert.equal(o.kind, 'run');
  return (o as { config: PluginConfig }).config;
};
const fails = (argv: string[], env: Record<string, string>, pattern: RegExp) =>
  assert.throws(() => parseConfig(argv, env), (e: unknown) => e instanceof ConfigError && pattern.test(e.message));

const TOKEN_ARGS = ['-vault-address=https://vault.server.de', '-auth-method=token', '-token=hvs.ABC123'];

describe('configuration', () => {
  it('accepts the seed manifest for token auth with the documented defaults', () => {
    const c = run(TOKEN_ARGS);
    assert.equal(c.vault.address, 'https://vault.server.de');
    assert.deepEqual(c.auth, { method: 'token', token: 'hvs.ABC123', tokenFile: undefined });
    assert.equal(c.transitMount, 'transit');
    assert.equal(c.transitKey, 'kms');
    assert.equal(c.tokenRefreshIntervalMs, 60_000);
    assert.equal(c.tokenRenewalSeconds, 3600);
    assert.equal(c.socketUrl, 'unix:///opt/kms/vaultkms.socket');
    assert.equal(c.socket.path, '/opt/kms/vaultkms.socket');
    assert.equal(c.forceSocketOverwrite, false);
    assert.deepEqual(c.health, { host: '', port: 8080 });
    assert.equal(c.enableV1, false);
    assert.equal(c.enableV2, true);
    assert.equal(c.socketMode, 0o600);
  });

  it('accepts the seed manifest for approle auth', () => {
    const c = run(['-vault-address=https://vault.server.de', '-auth-method=approle', '-approle-role-id=XXXX', '-approle-secret-id=YYYY']);
    assert.deepEqual(c.auth, { method: 'approle', mount: 'approle', roleId: 'XXXX', secretId: 'YYYY', secretIdFile: undefined });
  });

  it('accepts every Go flag spelling', () => {
    const c = run(['--vault-address=https://v', '-auth-method', 'token', '-token=t0k3n', '-debug', '-disable-v1=false', '--force-socket-overwrite', '-health-port', '9090']);
    assert.equal(c.vault.address, 'https://v');
    assert.equal(c.debug, true);
    assert.equal(c.enableV1, true);
    assert.equal(c.forceSocketOverwrite, true);
    assert.equal(c.health.port, 9090);
  });

  it('takes everything from the documented env vars', () => {
    const c = run([], {
      VAULT_KMS_VAULT_ADDR: 'https://env', VAULT_KMS_AUTH_METHOD: 'token', VAULT_KMS_VAULT_TOKEN: 'tok1',
      VAULT_KMS_TRANSIT_MOUNT: 'tm', VAULT_KMS_TRANSIT_KEY: 'tk', VAULT_KMS_TOKEN_REFRESH_INTERVAL: '2m',
      VAULT_KMS_TOKEN_RENEWAL: '600', VAULT_KMS_SOCKET: 'unix:///tmp/x.sock', FORCE_SOCKET_OVERWRITE: 'true',
      VAULT_KMS_DEBUG: '1', VAULT_KMS_HEALTH_PORT: '127.0.0.1:9000', VAULT_KMS_DISABLE_V1: 'false',
    });
    assert.equal(c.vault.address, 'https://env');
    assert.equal(c.auth.method === 'token' && c.auth.token, 'tok1');
    assert.equal(c.transitMount, 'tm');
    assert.equal(c.transitKey, 'tk');
    assert.equal(c.tokenRefreshIntervalMs, 120_000);
    assert.equal(c.tokenRenewalSeconds, 600);
    assert.equal(c.socket.path, '/tmp/x.sock');
    assert.equal(c.forceSocketOverwrite, true);
    assert.equal(c.debug, true);
    assert.deepEqual(c.health, { host: '127.0.0.1', port: 9000 });
    assert.equal(c.enableV1, true);
  });

  it('takes the env names the Go plugin really reads', () => {
    const c = run([], {
      VAULT_KMS_VAULT_ADDR: 'https://env', VAULT_KMS_AUTH_METHOD: 'token', VAULT_KMS_TOKEN: 'tok2',
      VAULT_KMS_TOKEN_RENEWAL_SECONDS: '700', VAULT_KMS_FORCE_SOCKET_OVERWRITE: 'true',
    });
    assert.equal(c.auth.method === 'token' && c.auth.token, 'tok2');
    assert.equal(c.tokenRenewalSeconds, 700);
    assert.equal(c.forceSocketOverwrite, true);
  });

  it('falls back to VAULT_ADDR and VAULT_TOKEN', () => {
    const c = run(['-auth-method=token'], { VAULT_ADDR: 'https://fallback', VAULT_TOKEN: 'tok3' });
    assert.equal(c.vault.address, 'https://fallback');
    assert.equal(c.auth.method === 'token' && c.auth.token, 'tok3');
  });

  it('lets flags beat env vars and env vars beat defaults', () => {
    const c = run([...TOKEN_ARGS, '-transit-key=flagkey'], { VAULT_KMS_TRANSIT_KEY: 'envkey', VAULT_KMS_TRANSIT_MOUNT: 'envmount' });
    assert.equal(c.transitKey, 'flagkey');
    assert.equal(c.transitMount, 'envmount');
  });

  it('accepts :8080, 8080 and host:port for -health-port', () => {
    assert.deepEqual(run([...TOKEN_ARGS, '-health-port=:8080']).health, { host: '', port: 8080 });
    assert.deepEqual(run([...TOKEN_ARGS, '-health-port=8080']).health, { host: '', port: 8080 });
    assert.deepEqual(run([...TOKEN_ARGS, '-health-port=127.0.0.1:8080']).health, { host: '127.0.0.1', port: 8080 });
    assert.deepEqual(run([...TOKEN_ARGS, '-health-port=[::1]:8081']).health, { host: '::1', port: 8081 });
  });

  const invalid: [string, string[], Record<string, string>, RegExp][] = [
    ['missing address', ['-auth-method=token', '-token=x'], {}, /-vault-address \(VAULT_KMS_VAULT_ADDR, VAULT_ADDR\)/],
    ['unknown auth method', ['-vault-address=https://v', '-auth-method=kubernetes'], {}, /-auth-method \(VAULT_KMS_AUTH_METHOD\).*not supported/],
    ['missing auth method', ['-vault-address=https://v'], {}, /-auth-method/],
    ['token auth without token', ['-vault-address=https://v', '-auth-method=token'], {}, /-token \(VAULT_KMS_VAULT_TOKEN, VAULT_KMS_TOKEN, VAULT_TOKEN\)/],
    ['approle without role id', ['-vault-address=https://v', '-auth-method=approle', '-approle-secret-id=s'], {}, /-approle-role-id \(VAULT_KMS_APPROLE_ROLE_ID\)/],
    ['approle without secret id', ['-vault-address=https://v', '-auth-method=approle', '-approle-role-id=r'], {}, /-approle-secret-id \(VAULT_KMS_APPROLE_SECRET_ID\)/],
    ['zero refresh interval', [...TOKEN_ARGS, '-token-refresh-interval=0s'], {}, /-token-refresh-interval \(VAULT_KMS_TOKEN_REFRESH_INTERVAL\)/],
    ['negative refresh interval', [...TOKEN_ARGS, '-token-refresh-interval=-5s'], {}, /-token-refresh-interval/],
    ['unparseable refresh interval', [...TOKEN_ARGS, '-token-refresh-interval=soon'], {}, /not a duration/],
    ['negative renewal', [...TOKEN_ARGS, '-token-renewal=-1'], {}, /-token-renewal \(VAULT_KMS_TOKEN_RENEWAL, VAULT_KMS_TOKEN_RENEWAL_SECONDS\)/],
    ['non-numeric renewal', [...TOKEN_ARGS, '-token-renewal=1h'], {}, /-token-renewal/],
    ['malformed socket URL', [...TOKEN_ARGS, '-socket=/opt/kms/vaultkms.socket'], {}, /-socket \(VAULT_KMS_SOCKET\)/],
    ['tcp socket URL', [...TOKEN_ARGS, '-socket=tcp://127.0.0.1:9000'], {}, /-socket/],
    ['both versions disabled', [...TOKEN_ARGS, '-disable-v2'], { VAULT_KMS_DISABLE_V1: 'true' }, /at least one KMS API version/],
    ['bad boolean env', TOKEN_ARGS, { VAULT_KMS_DEBUG: 'yes' }, /-debug \(VAULT_KMS_DEBUG\).*"yes" is not a boolean/],
    ['bad health port', [...TOKEN_ARGS, '-health-port=http'], {}, /-health-port \(VAULT_KMS_HEALTH_PORT\)/],
    ['port out of range', [...TOKEN_ARGS, '-health-port=70000'], {}, /-health-port/],
    ['bad vault url', ['-vault-address=vault.server.de', '-auth-method=token', '-token=x'], {}, /-vault-address/],
    ['unknown flag', [...TOKEN_ARGS, '-no-such-flag=1'], {}, /no-such-flag/],
    ['positional argument', [...TOKEN_ARGS, 'stray'], {}, /unexpected argument at position 4 \(value not shown\)/],
    ['missing flag value', [...TOKEN_ARGS, '-transit-key'], {}, /transit-key/],
    ['bad transit key', [...TOKEN_ARGS, '-transit-key=a/b'], {}, /-transit-key/],
    ['bad VAULT_SKIP_VERIFY', TOKEN_ARGS, { VAULT_SKIP_VERIFY: 'maybe' }, /VAULT_SKIP_VERIFY/],
    ['bad VAULT_MAX_RETRIES', TOKEN_ARGS, { VAULT_MAX_RETRIES: '-1' }, /VAULT_MAX_RETRIES/],
    ['client cert without key', TOKEN_ARGS, { VAULT_CLIENT_CERT: '/c.pem' }, /both client cert and client key/],
    ['bad socket mode', [...TOKEN_ARGS, '-socket-mode=777x'], {}, /-socket-mode/],
  ];
  for (const [name, argv, env, pattern] of invalid) {
    it(`rejects ${name}, naming the option`, () => fails(argv, env, pattern));
  }

  it('refuses a token with whitespace or non-printable characters inside it, from the flag or any env var', () => {
    const refused = /-token \(VAULT_KMS_VAULT_TOKEN, VAULT_KMS_TOKEN, VAULT_TOKEN\).*whitespace or non-printable/;
    for (const token of ['hvs.ABC 123', 'hvs.ABC\n123', 'hvs.ABC\t123', 'hvs.ABC\u00a0123', 'hvs.ABC\u0000123', 'hvs.ABC\u00e9123']) {
      fails(['-vault-address=https://v', '-auth-method=token', `-token=${token}`], {}, refused);
      for (const env of ['VAULT_KMS_VAULT_TOKEN', 'VAULT_KMS_TOKEN', 'VAULT_TOKEN']) {
        fails(['-vault-address=https://v', '-auth-method=token'], { [env]: token }, refused);
      }
    }
    // Whitespace around the value (an env var filled from a file with its newline) is trimmed, not refused.
    assert.equal((run(['-vault-address=https://v', '-auth-method=token'], { VAULT_TOKEN: '\thvs.ABC123\n' }).auth as { token?: string }).token, 'hvs.ABC123');
  });

  it('never echoes a secret value in a configuration error', () => {
    assert.throws(
      () => parseConfig(['-vault-address=https://v', '-auth-method=token', '-token=bad token with spaces'], {}),
      (e: unknown) => {
        assert.ok(e instanceof ConfigError, `a ConfigError, not ${String(e)}`);
        assert.match(e.message, /-token \(/, 'names the option');
        assert.ok(!e.message.includes('bad token with spaces'), e.message);
        assert.ok(!/token with|with spaces/.test(e.message), e.message);
        return true;
      },
    );
  });

  it('--help lists every flag with its env vars and default', () => {
    const o = parseConfig(['--help'], {});
    assert.equal(o.kind, 'help');
    const text = (o as { text: string }).text;
    for (const spec of OPTIONS) {
      assert.ok(text.includes(`-${spec.flag}`), spec.flag);
      for (const env of spec.envs) assert.ok(text.includes(env), env);
      if (spec.default !== undefined) assert.ok(text.includes(`(default "${spec.default}")`), spec.flag);
    }
  });

  it('-version asks for the version', () => {
    assert.equal(parseConfig(['-version'], {}).kind, 'version');
  });

  it('-dev needs no Vault and puts the socket under the working directory', () => {
    const c = run(['-dev']);
    assert.equal(c.auth.method, 'dev');
    assert.equal(c.socket.path, '.dev/vaultkms.socket');
    assert.equal(c.health.host, '127.0.0.1');
  });
});
