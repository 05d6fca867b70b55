import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseConfig } from '../../src/config/parse';
import { ConfigError, type PluginConfig } from '../../src/config/config';
import { OPTION_BY_FLAG } from '../../src/config/options';

/** The userpass, cert and jwt options: the Go plugin v1.4.0's names, env vars and defaults, and our validation. */
const run = (argv: string[], env: Record<string, string> = {}): PluginConfig => {
  const o = parseConfig(['-vault-address=https://vault.example', ...argv], env);
  assert.equal(o.kind, 'run');
  return (o as { config: PluginConfig }).config;
};
const fails = (argv: string[], env: Record<string, string>, pattern: RegExp) =>
  assert.throws(
    () => parseConfig(['-vault-address=https://vault.example', ...argv], env),
    (e: unknown) => e instanceof ConfigError && pattern.test(e.message),
  );

describe('auth method flags of the Go plugin v1.4.0', () => {
  it('has every flag, env var and default that its cmd/plugin.go declares', () => {
    // Read from the Go plugin's source: flag.StringVar(&opts.X, "name", ...) and the X `env:"NAME" envDefault:"..."` tags.
    // The release source scripts/install-test-tools.sh builds the Go plugin from (KMS_UPSTREAM_SRC overrides it there too).
    const upstream = process.env.KMS_UPSTREAM_SRC || join(resolve(__dirname, '../../..'), '../shared/upstream/vault-kubernetes-kms-v1.4.0');
    const src = readFileSync(join(upstream, 'cmd/plugin.go'), 'utf8');
    const fields = new Map<string, { env: string; def?: string }>();
    for (const m of src.matchAll(/^\s+(\w+)\s+\w+\s+`env:"(\w+)"(?:\s+envDefault:"([^"]*)")?`/gm)) fields.set(m[1], { env: m[2], def: m[3] });
    const flags = [...src.matchAll(/flag\.\w+Var\(\s*&opts\.(\w+),\s*"([\w-]+)"/g)].map((m) => ({ field: m[1], flag: m[2] }));
    const authFlags = flags.filter((f) => /^(userpass|cert|jwt)-/.test(f.flag));
    assert.equal(authFlags.length, 15, authFlags.map((f) => f.flag).join(' '));
    for (const { field, flag } of authFlags) {
      const ours = OPTION_BY_FLAG.get(flag);
      assert.ok(ours, `-${flag} exists`);
      const go = fields.get(field);
      assert.ok(go, field);
      assert.ok(ours.envs.includes(`VAULT_KMS_${go.env}`), `-${flag} reads VAULT_KMS_${go.env}`);
      assert.equal(ours.default, go.def === undefined || go.def === '' ? undefined : go.def, `-${flag} default`);
    }
  });

  it('userpass: flags, env vars, default mount, password from a file', () => {
    const c = run(['-auth-method=userpass', '-userpass-username=kms', '-userpass-password=pw']);
    assert.deepEqual(c.auth, { method: 'userpass', mount: 'userpass', username: 'kms', password: 'pw', passwordFile: undefined });
    const e = run([], { VAULT_KMS_AUTH_METHOD: 'userpass', VAULT_KMS_USERPASS_USERNAME: 'u', VAULT_KMS_USERPASS_PASSWORD_FILE: '/p', VAULT_KMS_USERPASS_MOUNT: '/up/' });
    assert.deepEqual(e.auth, { method: 'userpass', mount: 'up', username: 'u', password: undefined, passwordFile: '/p' });
    fails(['-auth-method=userpass', '-userpass-password=pw'], {}, /-userpass-username \(VAULT_KMS_USERPASS_USERNAME\)/);
    fails(['-auth-method=userpass', '-userpass-username=u'], {}, /-userpass-password \(VAULT_KMS_USERPASS_PASSWORD\).*-userpass-password-file/);
    fails(['-auth-method=userpass', '-userpass-username=u', '-userpass-password-file=/p'], { VAULT_KMS_USERPASS_PASSWORD: 'pw' }, /-userpass-password-file.*conflicts with -userpass-password \(set by VAULT_KMS_USERPASS_PASSWORD\)/);
  });

  it('cert: combined PEM or two files, never both; -cert-role required', () => {
    const pem = run(['-auth-method=cert', '-cert-role=kms', '-cert-pem=/var/lib/kubelet/pki/kubelet-client-current.pem']);
    assert.deepEqual(pem.auth, { method: 'cert', mount: 'cert', role: 'kms', files: { kind: 'combined', pemFile: '/var/lib/kubelet/pki/kubelet-client-current.pem' } });
    const pair = run([], { VAULT_KMS_AUTH_METHOD: 'cert', VAULT_KMS_CERT_ROLE: 'r', VAULT_KMS_CERT_FILE: '/c', VAULT_KMS_CERT_KEY: '/k', VAULT_KMS_CERT_MOUNT: 'tls' });
    assert.deepEqual(pair.auth, { method: 'cert', mount: 'tls', role: 'r', files: { kind: 'pair', certFile: '/c', keyFile: '/k' } });
    fails(['-auth-method=cert', '-cert-pem=/p'], {}, /-cert-role \(VAULT_KMS_CERT_ROLE\)/);
    fails(['-auth-method=cert', '-cert-role=r'], {}, /-cert-pem \(VAULT_KMS_CERT_PEM\).*-cert-file and -cert-key/);
    fails(['-auth-method=cert', '-cert-role=r', '-cert-file=/c'], {}, /-cert-key \(VAULT_KMS_CERT_KEY\)/);
    fails(['-auth-method=cert', '-cert-role=r', '-cert-key=/k'], {}, /-cert-file \(VAULT_KMS_CERT_FILE\)/);
    fails(['-auth-method=cert', '-cert-role=r', '-cert-pem=/p'], { VAULT_KMS_CERT_FILE: '/c' }, /-cert-pem.*conflicts with -cert-file \(set by VAULT_KMS_CERT_FILE\)/);
    assert.throws(
      () => parseConfig(['-vault-address=http://127.0.0.1:8200', '-auth-method=cert', '-cert-role=r', '-cert-pem=/p'], {}),
      (e: unknown) => e instanceof ConfigError && /-vault-address \(VAULT_KMS_VAULT_ADDR, VAULT_ADDR\).*https:\/\/.*-auth-method=cert/.test(e.message),
    );
  });

  it('jwt: file source by default at the service-account token path', () => {
    const c = run(['-auth-method=jwt', '-jwt-role=kms']);
    assert.deepEqual(c.auth, { method: 'jwt', mount: 'jwt', role: 'kms', source: { kind: 'file', path: '/var/run/secrets/kubernetes.io/serviceaccount/token' } });
    const f = run(['-auth-method=jwt', '-jwt-role=kms', '-jwt-mount=k8s', '-jwt-token-path=/t'], { SPIFFE_ENDPOINT_SOCKET: 'unix:///run/spire.sock' });
    assert.deepEqual(f.auth, { method: 'jwt', mount: 'k8s', role: 'kms', source: { kind: 'file', path: '/t' } });
    assert.deepEqual(f.notices, [], 'SPIFFE_ENDPOINT_SOCKET alone is not worth a notice');
    const n = run(['-auth-method=jwt', '-jwt-role=kms', '-jwt-spiffe-audience=vault']);
    assert.match(n.notices.join('\n'), /-jwt-spiffe-audience is set but -jwt-token-source is file/);
    fails(['-auth-method=jwt'], {}, /-jwt-role \(VAULT_KMS_JWT_ROLE\)/);
    fails(['-auth-method=jwt', '-jwt-role=r', '-jwt-token-source=k8s'], {}, /-jwt-token-source \(VAULT_KMS_JWT_TOKEN_SOURCE\).*file or spiffe/);
  });

  it('jwt spiffe: endpoint from the flag or SPIFFE_ENDPOINT_SOCKET, audience required, SPIFFE ID checked when given', () => {
    const base = ['-auth-method=jwt', '-jwt-role=kms', '-jwt-token-source=spiffe'];
    const c = run([...base, '-jwt-spiffe-audience=vault'], { SPIFFE_ENDPOINT_SOCKET: 'unix:///run/spire/agent.sock' });
    assert.deepEqual(c.auth, { method: 'jwt', mount: 'jwt', role: 'kms', source: { kind: 'spiffe', endpoint: 'unix:///run/spire/agent.sock', audience: 'vault', spiffeId: undefined } });
    const flagWins = run([...base, '-jwt-spiffe-endpoint=tcp://127.0.0.1:8081', '-jwt-spiffe-audience=vault', '-jwt-spiffe-id=spiffe://example.org/kms'], {
      SPIFFE_ENDPOINT_SOCKET: 'unix:///run/spire/agent.sock',
    });
    assert.deepEqual(flagWins.auth.method === 'jwt' && flagWins.auth.source, { kind: 'spiffe', endpoint: 'tcp://127.0.0.1:8081', audience: 'vault', spiffeId: 'spiffe://example.org/kms' });
    fails([...base, '-jwt-spiffe-audience=vault'], {}, /-jwt-spiffe-endpoint \(VAULT_KMS_JWT_SPIFFE_ENDPOINT, SPIFFE_ENDPOINT_SOCKET\) *: is required/);
    fails([...base, '-jwt-spiffe-endpoint=/run/spire.sock', '-jwt-spiffe-audience=vault'], {}, /-jwt-spiffe-endpoint.*not a Workload API address/);
    fails([...base, '-jwt-spiffe-endpoint=unix:///s'], {}, /-jwt-spiffe-audience \(VAULT_KMS_JWT_SPIFFE_AUDIENCE\)/);
    fails([...base, '-jwt-spiffe-endpoint=unix:///s', '-jwt-spiffe-audience=v', '-jwt-spiffe-id=example.org/kms'], {}, /-jwt-spiffe-id \(VAULT_KMS_JWT_SPIFFE_ID\).*not a SPIFFE ID/);
    const ignored = run([...base, '-jwt-spiffe-endpoint=unix:///s', '-jwt-spiffe-audience=v'], { VAULT_KMS_JWT_TOKEN_PATH: '/t' });
    assert.match(ignored.notices.join('\n'), /VAULT_KMS_JWT_TOKEN_PATH is set but -jwt-token-source is spiffe/);
  });

  it('names every supported method when the method is unknown', () => {
    fails(['-auth-method=kubernetes'], {}, /"kubernetes" is not supported: use token, approle, userpass, cert or jwt/);
  });
});
