import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createSign, generateKeyPairSync, randomBytes, type KeyObject } from 'node:crypto';
import { renameSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { KmsTestClient } from '../support/kms-client';
import { PluginProcess, eventually, goPluginCommand, sleep, tempSocketDir } from '../support/plugin-process';
import { PluginFixture } from '../support/plugin-fixture';
import { RealServer, REAL_SERVER_NAME, realServerUnderTest } from '../support/real-server';
import { captureSecret, markedPlaintext } from '../support/leak-capture';
import { makeTestPki, type TestPki } from '../support/test-pki';
import { makeClientCa, type ClientCa } from '../support/client-pki';
import { TcpForwarder } from '../support/tcp-forwarder';
import { TlsObserver } from '../support/tls-observer';

/**
 * userpass, TLS certificate and JWT (file) auth, each against a real server
 * (non-dev, HTTPS listener with a throwaway CA: cert auth needs TLS): OpenBao
 * 2.7.2 here, Vault 1.21.4 from on-vault/auth-methods.test.ts; with the built
 * CLI started as an operator would, and the real Go plugin v1.4.0 given the
 * same flags for the happy path of each method.
 */
const kind = realServerUnderTest();
const NAME = REAL_SERVER_NAME[kind];
/** The real server under test (OpenBao or Vault). */
let bao: RealServer;
let pki: TestPki;
let clientCa: ClientCa;
let jwtKey: KeyObject;
const dirs: string[] = [];
const plugins = new PluginFixture();

const JWT_AUDIENCE = 'vault-kms';

before(async () => {
  pki = makeTestPki();
  clientCa = makeClientCa();
  dirs.push(pki.dir, clientCa.dir);
  bao = await RealServer.start({ kind, mode: 'server', tls: { certFile: pki.certFile, keyFile: pki.keyFile, caFile: pki.caFile } });
  await bao.mustOk('POST', 'sys/auth/userpass', { type: 'userpass' });
  await bao.mustOk('POST', 'sys/auth/cert', { type: 'cert' });
  await bao.mustOk('POST', 'sys/auth/jwt', { type: 'jwt' });
  await bao.mustOk('POST', 'auth/cert/certs/kms', { certificate: clientCa.caPem, token_policies: ['kms'], token_ttl: '1h' });
  const pair = generateKeyPairSync('rsa', { modulusLength: 2048 });
  jwtKey = pair.privateKey;
  await bao.mustOk('POST', 'auth/jwt/config', { jwt_validation_pubkeys: [pair.publicKey.export({ type: 'spki', format: 'pem' }).toString()] });
  await bao.mustOk('POST', 'auth/jwt/role/kms', { role_type: 'jwt', bound_audiences: [JWT_AUDIENCE], user_claim: 'sub', token_policies: ['kms'], token_ttl: '1h' });
});
after(async () => {
  await plugins.stopAll();
  await bao?.close();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function workDir(): string {
  const d = tempSocketDir();
  dirs.push(d);
  return d;
}

/** -vault-address and -vault-ca-cert: both plugins take them alike. */
const vaultFlags = () => [`-vault-address=${bao.url}`, `-vault-ca-cert=${pki.caFile}`];

async function roundTrip(client: KmsTestClient, n: number): Promise<void> {
  const enc = await client.encrypt(markedPlaintext(n), `uid-${n}`);
  assert.deepEqual((await client.decrypt(enc.ciphertext, enc.key_id)).plaintext, markedPlaintext(n));
}

/** A userpass user with the kms policy; the password is recorded for the leak scan. */
async function userpassUser(name: string, tokenSettings: Record<string, unknown> = { token_ttl: '1h' }): Promise<string> {
  const password = `pw-${randomBytes(12).toString('hex')}`;
  captureSecret(password);
  await bao.mustOk('POST', `auth/userpass/users/${name}`, { password, token_policies: ['kms'], ...tokenSettings });
  return password;
}

/** An RS256 JWT signed with the key auth/jwt/config trusts. */
function signJwt(claims: Record<string, unknown>): string {
  const part = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url');
  const now = Math.floor(Date.now() / 1000);
  const body = `${part({ alg: 'RS256', typ: 'JWT' })}.${part({ sub: 'system:serviceaccount:kube-system:vault-kms', aud: JWT_AUDIENCE, iat: now, nbf: now - 5, exp: now + 600, ...claims })}`;
  const jwt = `${body}.${createSign('RSA-SHA256').update(body).sign(jwtKey).toString('base64url')}`;
  captureSecret(jwt);
  return jwt;
}

/** Writes a file the way the kubelet does for projected tokens: a new file renamed over the old one. */
function replaceFile(path: string, text: string): void {
  writeFileSync(`${path}.tmp`, text, { mode: 0o600 });
  renameSync(`${path}.tmp`, path);
}

function recordKey(keyPem: string): void {
  for (const line of keyPem.split('\n')) if (line.length >= 16 && !line.startsWith('-----')) captureSecret(line);
}

/** Logins to `mount` whose response carried this certificate common name (OpenBao's audit log keeps auth metadata in clear). */
function certLoginsAs(offset: number, commonName: string): number {
  return bao
    .auditEntriesSince(offset)
    .filter((e) => e.type === 'response' && e.request?.path === 'auth/cert/login' && e.auth?.metadata?.common_name === commonName).length;
}

/** Serves round trips for `ms`, counting failures: across token expiries there must be none. */
async function serveFor(client: KmsTestClient, ms: number, first = 0): Promise<{ served: number; failed: number; errors: string[] }> {
  let served = 0;
  let failed = 0;
  const errors: string[] = [];
  const until = Date.now() + ms;
  while (Date.now() < until) {
    try {
      await roundTrip(client, first + served);
      served++;
    } catch (e) {
      failed++;
      if (errors.length < 5) errors.push((e as Error).message);
    }
    await sleep(50);
  }
  return { served, failed, errors };
}

/** The real Go plugin v1.4.0 with the given flags; it takes -health-port as a bare port number. */
async function startGoPlugin(flags: string[]): Promise<KmsTestClient> {
  const socket = join(workDir(), 'vaultkms.socket');
  const healthPort = await TcpForwarder.freePort();
  const p = plugins.adopt(new PluginProcess([...flags, `-socket=unix://${socket}`, `-health-port=${healthPort}`], {}, undefined, goPluginCommand()));
  await p.waitForSocket(socket, 20_000);
  const client = new KmsTestClient(socket);
  try {
    await eventually(() => client.status(), (s) => s.healthz === 'ok', 15_000);
  } catch (e) {
    client.close();
    throw new Error(`${(e as Error).message}\nGo plugin output:\n${p.stdout.join('\n')}\n${p.stderr.join('\n')}`);
  }
  return client;
}

/** Both plugins take the same flags for each method: the happy path of each runs on both. */
async function bothPluginsServe(flags: string[], n: number): Promise<void> {
  const { client: ours, p } = await plugins.start(flags);
  await roundTrip(ours, n);
  assert.ok(p.logs().some((l) => l.message === 'authenticated to Vault'));
  const go = await startGoPlugin(flags);
  try {
    await roundTrip(go, n + 1);
  } finally {
    go.close();
  }
}

describe(`userpass auth on ${NAME}`, { timeout: 240_000 }, () => {
  it('the Go plugin and ours both serve with -userpass-username, -userpass-password and -userpass-mount', async () => {
    const password = await userpassUser('kms-interop');
    await bothPluginsServe([...vaultFlags(), '-auth-method=userpass', '-userpass-username=kms-interop', `-userpass-password=${password}`, '-userpass-mount=userpass'], 100);
  });

  it('renews, logs in again past the max TTL and after revocation, with zero failed requests; the password is never printed', async () => {
    const password = await userpassUser('kms-short', { token_ttl: '4s', token_max_ttl: '9s' });
    const passwordFile = join(workDir(), 'password');
    writeFileSync(passwordFile, `${password}\n`, { mode: 0o600 });
    const { client, p } = await plugins.start([
      ...vaultFlags(), '-auth-method=userpass', '-userpass-username=kms-short', `-userpass-password-file=${passwordFile}`, '-token-refresh-interval=1s',
    ]);
    const start = await p.waitForLog((l) => l.message === 'starting kms plugin');
    assert.equal(start['userpass-username'], 'kms-short');
    assert.equal(start['userpass-password-file'], passwordFile);
    bao.resetStats();
    const run = await serveFor(client, 20_000); // more than two max TTLs
    const stats = bao.stats();
    assert.equal(run.failed, 0, `failed requests across expiries: ${run.failed} of ${run.served + run.failed}: ${run.errors.join('; ')}`);
    assert.ok((stats['userpass.login'] ?? 0) >= 2, `logged in again past the max TTL: ${JSON.stringify(stats)}`);
    assert.ok((stats['token.renew-self'] ?? 0) >= 1, `renewed within the TTL: ${JSON.stringify(stats)}`);

    // Every token of the mount revoked: the next request logs in again and still succeeds.
    await bao.mustOk('POST', 'sys/leases/revoke-prefix/auth/userpass/login', {});
    bao.resetStats();
    await roundTrip(client, 500);
    assert.ok((bao.stats()['userpass.login'] ?? 0) >= 1, 'logged in again after the revocation');
    await p.waitForLog((l) => /logging in again/.test(String(l.message)));

    await p.stop(); // its short TTL keeps it logging in: no load for the tests after it
    const output = [...p.stdout, ...p.stderr].join('\n');
    assert.equal(output.includes(password), false, 'the password never appears in the output');
  });

  it('a wrong password is a clear login error naming the user and flags, and is not sent again unchanged', async () => {
    await userpassUser('kms-wrong');
    const passwordFile = join(workDir(), 'password');
    const wrong = `wrong-${randomBytes(8).toString('hex')}`;
    captureSecret(wrong);
    writeFileSync(passwordFile, wrong, { mode: 0o600 });
    const { client, p } = await plugins.start(
      [...vaultFlags(), '-auth-method=userpass', '-userpass-username=kms-wrong', `-userpass-password-file=${passwordFile}`, '-token-refresh-interval=1s'],
      { waitHealthy: false },
    );
    const s = await eventually(() => client.status(), (x) => /userpass login/.test(x.healthz), 15_000);
    assert.match(s.healthz, /auth\/userpass\/login\/kms-wrong/);
    assert.match(s.healthz, /-userpass-password/);
    await p.waitForLog((l) => /not sending it again/.test(JSON.stringify(l)), 15_000);
    await p.stop();
    assert.equal([...p.stdout, ...p.stderr].join('\n').includes(wrong), false);
  });
});

describe(`TLS certificate auth on ${NAME}`, { timeout: 240_000 }, () => {
  it('the Go plugin and ours both serve with -cert-role and -cert-pem (a combined PEM, as the kubelet writes it)', async () => {
    const cert = clientCa.issue('system:node:interop');
    recordKey(cert.keyPem);
    await bothPluginsServe([...vaultFlags(), '-auth-method=cert', '-cert-mount=cert', '-cert-role=kms', `-cert-pem=${cert.pemFile}`], 200);
  });

  it('the Go plugin and ours both serve with -cert-file and -cert-key', async () => {
    const cert = clientCa.issue('system:node:pair');
    recordKey(cert.keyPem);
    await bothPluginsServe([...vaultFlags(), '-auth-method=cert', '-cert-role=kms', `-cert-file=${cert.certFile}`, `-cert-key=${cert.keyFile}`], 210);
  });

  it('presents the client certificate only on the login\'s own connection, opened for each login', async () => {
    const cert = clientCa.issue('system:node:observed');
    recordKey(cert.keyPem);
    const observer = new TlsObserver(pki, new URL(bao.url), { 'system:node:observed': cert });
    const address = await observer.start();
    try {
      const { client, p } = await plugins.start([`-vault-address=${address}`, `-vault-ca-cert=${pki.caFile}`, '-auth-method=cert', '-cert-role=kms', `-cert-pem=${cert.pemFile}`]);
      await roundTrip(client, 230);
      p.signal('SIGHUP'); // a second login
      await eventually(async () => observer.connections.filter((c) => c.requests.includes('POST /v1/auth/cert/login')).length, (n) => n === 2, 15_000);
      await roundTrip(client, 231);
      const withCert = observer.connections.filter((c) => c.clientCertCn !== undefined);
      const withoutCert = observer.connections.filter((c) => c.clientCertCn === undefined);
      assert.equal(withCert.length, 2, `one connection per login: ${JSON.stringify(observer.connections)}`);
      for (const c of withCert) {
        assert.equal(c.clientCertCn, 'system:node:observed');
        assert.deepEqual(c.requests, ['POST /v1/auth/cert/login'], 'nothing but the login goes over the certificate\'s connection');
      }
      const others = withoutCert.flatMap((c) => c.requests);
      assert.ok(others.some((r) => r.startsWith('POST /v1/transit/encrypt/')), JSON.stringify(others));
      assert.ok(others.some((r) => r.includes('auth/token/lookup-self')), JSON.stringify(others));
      assert.equal(others.some((r) => r.includes('auth/cert/login')), false);
    } finally {
      await observer.stop();
    }
  });

  it('uses a rotated PEM file at the next login, without a restart', async () => {
    const first = clientCa.issue('system:node:before-rotation');
    const second = clientCa.issue('system:node:after-rotation');
    recordKey(first.keyPem);
    recordKey(second.keyPem);
    // The kubelet's layout: kubelet-client-current.pem is a symlink to the newest dated file.
    const dir = workDir();
    const current = join(dir, 'kubelet-client-current.pem');
    symlinkSync(first.pemFile, current);
    const offset = statSync(bao.auditFile).size;
    const { client, p } = await plugins.start([...vaultFlags(), '-auth-method=cert', '-cert-role=kms', `-cert-pem=${current}`]);
    await roundTrip(client, 220);
    assert.equal(certLoginsAs(offset, 'system:node:before-rotation'), 1);
    assert.equal(certLoginsAs(offset, 'system:node:after-rotation'), 0);

    symlinkSync(second.pemFile, `${current}.new`);
    renameSync(`${current}.new`, current);
    p.signal('SIGHUP'); // the next login; a token reaching its max TTL triggers one the same way
    await eventually(async () => certLoginsAs(offset, 'system:node:after-rotation'), (n) => n === 1, 15_000);
    await roundTrip(client, 221);
    assert.equal(certLoginsAs(offset, 'system:node:before-rotation'), 1, 'the old certificate was not used again');
    assert.equal([...p.stdout, ...p.stderr].join('\n').includes('PRIVATE KEY'), false);
  });

  it('a certificate Vault does not trust, or a key that is not the certificate\'s, gives a clear error', async () => {
    const otherCa = makeClientCa('untrusted-ca');
    dirs.push(otherCa.dir);
    const untrusted = otherCa.issue('system:node:stranger');
    recordKey(untrusted.keyPem);
    const { client, p } = await plugins.start([...vaultFlags(), '-auth-method=cert', '-cert-role=kms', `-cert-pem=${untrusted.pemFile}`], { waitHealthy: false });
    const s = await eventually(() => client.status(), (x) => /certificate login/.test(x.healthz), 15_000);
    assert.match(s.healthz, /system:node:stranger/);
    assert.match(s.healthz, /auth\/<cert-mount>\/certs\/kms/);

    const good = clientCa.issue('system:node:mismatch');
    recordKey(good.keyPem);
    const { client: c2 } = await plugins.start([...vaultFlags(), '-auth-method=cert', '-cert-role=kms', `-cert-file=${good.certFile}`, `-cert-key=${untrusted.keyFile}`], {
      waitHealthy: false,
    });
    const s2 = await eventually(() => c2.status(), (x) => /does not belong to the certificate/.test(x.healthz), 15_000);
    assert.match(s2.healthz, /-cert-key/);
    assert.equal([...p.stdout, ...p.stderr].join('\n').includes('PRIVATE KEY'), false);
  });
});

describe(`JWT auth (token file) on ${NAME}`, { timeout: 240_000 }, () => {
  it('the Go plugin and ours both serve with -jwt-role, -jwt-mount and -jwt-token-path', async () => {
    const tokenFile = join(workDir(), 'token');
    writeFileSync(tokenFile, signJwt({}), { mode: 0o600 });
    await bothPluginsServe([...vaultFlags(), '-auth-method=jwt', '-jwt-mount=jwt', '-jwt-role=kms', '-jwt-token-source=file', `-jwt-token-path=${tokenFile}`], 300);
  });

  it('short Vault token TTL and a token file replaced as it rotates: zero failed requests', async () => {
    await bao.mustOk('POST', 'auth/jwt/role/kms-short', {
      role_type: 'jwt', bound_audiences: [JWT_AUDIENCE], user_claim: 'sub', token_policies: ['kms'], token_ttl: '4s', token_max_ttl: '8s',
    });
    const tokenFile = join(workDir(), 'token');
    // Each JWT lives 10 s and is replaced every 2 s: a login with a JWT read once at start would fail after 10 s.
    const fresh = () => replaceFile(tokenFile, signJwt({ exp: Math.floor(Date.now() / 1000) + 10, jti: randomBytes(6).toString('hex') }));
    fresh();
    const rotator = setInterval(fresh, 2000);
    try {
      const { client, p } = await plugins.start([...vaultFlags(), '-auth-method=jwt', '-jwt-role=kms-short', `-jwt-token-path=${tokenFile}`, '-token-refresh-interval=1s']);
      bao.resetStats();
      const run = await serveFor(client, 18_000, 310); // more than two max TTLs
      const stats = bao.stats();
      assert.equal(run.failed, 0, `failed requests across expiries: ${run.failed} of ${run.served + run.failed}: ${run.errors.join('; ')}`);
      assert.ok((stats['jwt.login'] ?? 0) >= 2, `logged in again past the max TTL with a newer JWT: ${JSON.stringify(stats)}`);
      const start = p.logs().find((l) => l.message === 'starting kms plugin') ?? {};
      assert.equal(start['jwt-token-path'], tokenFile);
      assert.equal(start['jwt-token-source'], 'file');
      await p.stop();
    } finally {
      clearInterval(rotator);
    }
  });

  it('an expired JWT is a clear error naming the file and when it expired', async () => {
    const tokenFile = join(workDir(), 'token');
    const expiredAt = Math.floor(Date.now() / 1000) - 3600;
    writeFileSync(tokenFile, signJwt({ iat: expiredAt - 600, nbf: expiredAt - 600, exp: expiredAt }), { mode: 0o600 });
    const { client } = await plugins.start([...vaultFlags(), '-auth-method=jwt', '-jwt-role=kms', `-jwt-token-path=${tokenFile}`], { waitHealthy: false });
    const s = await eventually(() => client.status(), (x) => /JWT login/.test(x.healthz), 15_000);
    assert.ok(s.healthz.includes(`-jwt-token-path file ${tokenFile}`), s.healthz);
    assert.ok(s.healthz.includes(`expired at ${new Date(expiredAt * 1000).toISOString()}`), s.healthz);
  });
});
