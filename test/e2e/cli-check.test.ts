import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, chownSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { createServer, type AddressInfo } from 'node:net';
import { join } from 'node:path';
import { RealServer, REAL_SERVER_NAME, realServerUnderTest } from '../support/real-server';
import { PluginProcess, REPO_ROOT, tempSocketDir, type LaunchOptions } from '../support/plugin-process';
import { TcpForwarder } from '../support/tcp-forwarder';
import { makeTestPki, type TestPki } from '../support/test-pki';

/**
 * `vault-kubernetes-kms check`, the built CLI (or the artifact, with
 * KMS_PLUGIN_BIN) against a real server (OpenBao; Vault from
 * on-vault/cli-check.test.ts): a correct setup passes every step; each thing
 * broken fails its own step with the fix, the steps that depend on it are
 * skipped, and no credential is printed.
 */
const kind = realServerUnderTest();
const NAME = REAL_SERVER_NAME[kind];
/** The steps that need no server run once, on OpenBao. */
const serverless = { skip: kind !== 'openbao' && 'no server involved: runs on OpenBao only' };
const POLICY = readFileSync(join(REPO_ROOT, 'manifests/kms-policy.hcl'), 'utf8');
const PATHS: Record<string, string> = {
  'auth/token/lookup-self': 'read',
  'auth/token/renew-self': 'update',
  'transit/encrypt/kms': 'update',
  'transit/decrypt/kms': 'update',
  'transit/keys/kms': 'read',
};
const without = (path: string) => POLICY.replace(new RegExp(`path "${path.replace(/\//g, '\\/')}" \\{[^}]*\\}`), '');
const forKey = (key: string) => POLICY.replace(/transit\/(encrypt|decrypt|keys)\/kms/g, `transit/$1/${key}`);

interface Run {
  code: number | null;
  out: string;
  err: string;
  lines: string[];
}

/** The real server under test (OpenBao or Vault). */
let bao: RealServer;
let socketDir: string;
/** A token as docs/setup.md creates it: orphan, periodic (24h), only the kms policy. */
let goodToken: string;
const secrets: string[] = [];

before(async () => {
  bao = await RealServer.start({ kind });
  socketDir = tempSocketDir();
  goodToken = (await bao.createToken({ policies: ['kms'], no_default_policy: true, period: '24h' })).token;
  secrets.push(bao.rootToken, bao.kmsToken, bao.secretId, goodToken);
});
after(async () => {
  await bao.close();
  rmSync(socketDir, { recursive: true, force: true });
});

async function check(args: string[], env: Record<string, string> = {}, launch: LaunchOptions = {}): Promise<Run> {
  const hasSocket = args.some((a) => a.startsWith('-socket='));
  // A free port unless the test names one: the default :8080 may be taken on a shared machine.
  const health = args.some((a) => a.startsWith('-health-port=')) ? [] : [`-health-port=127.0.0.1:${await TcpForwarder.freePort()}`];
  const p = new PluginProcess(['check', ...(hasSocket ? [] : [`-socket=unix://${join(socketDir, 'kms.socket')}`]), ...health, ...args], env, undefined, undefined, launch);
  const code = await p.exited;
  const out = p.stdout.join('\n');
  const err = p.stderr.join('\n');
  for (const s of secrets) if (s) assert.equal(out.includes(s) || err.includes(s), false, 'a credential was printed');
  return { code, out, err, lines: p.stdout };
}

const tokenArgs = (token: string, address = bao.url) => ({ args: [`-vault-address=${address}`, '-auth-method=token'], env: { VAULT_KMS_VAULT_TOKEN: token } });

async function tokenWith(policy: string, name: string, defaultPolicy = false): Promise<string> {
  await bao.writePolicy(name, policy);
  const { token } = await bao.createToken({ policies: [name], no_default_policy: !defaultPolicy, period: '24h' });
  secrets.push(token);
  return token;
}

/** The line of one step: "✓ title: ..." */
function line(run: Run, title: string): string {
  const l = run.lines.find((x) => x.slice(2).startsWith(`${title}:`));
  assert.ok(l, `no "${title}" line in:\n${run.out}\n${run.err}\nexit ${run.code}`);
  return l;
}
const STEP_TITLES = ['configuration', 'Vault reachable', 'Vault namespace', 'authentication', 'token lifetime', 'token capabilities', 'transit key', 'encrypt/decrypt round trip', 'socket path', 'health port'];

describe(`check on ${NAME}: a correct setup`, () => {
  it('passes every step with the token of manifests/kms-policy.hcl (no default policy: capabilities are probed) and exits 0', async () => {
    const { args, env } = tokenArgs(goodToken);
    const run = await check(args, env);
    assert.equal(run.code, 0, run.out + run.err);
    for (const t of STEP_TITLES) assert.match(line(run, t), /^✓ /);
    assert.match(line(run, 'token capabilities'), /all 5 paths .*\(probed path by path/);
    assert.match(line(run, 'Vault reachable'), new RegExp(`version ${bao.version.replace(/\./g, '\\.')}, unsealed, active`));
    assert.match(line(run, 'Vault namespace'), /^✓ Vault namespace: none set \(-vault-namespace\): the root namespace/);
    assert.match(line(run, 'transit key'), /aes256-gcm96, latest version 1/);
    assert.match(line(run, 'token lifetime'), /^✓ token lifetime: periodic \(period 24h\), no maximum TTL/);
    assert.match(line(run, 'health port'), /^✓ health port: 127\.0\.0\.1:\d+ is free/);
    assert.match(run.out, /all checks passed\n?$/);
  });

  it('asks sys/capabilities-self when the token may (default policy), and prints JSON with -output json', async () => {
    const { args, env } = tokenArgs(await tokenWith(POLICY, 'kms-with-default', true));
    const run = await check([...args, '-output', 'json'], env);
    assert.equal(run.code, 0, run.out);
    const report = JSON.parse(run.out);
    assert.equal(report.ok, true);
    assert.deepEqual(report.steps.map((s: { step: string }) => s.step), ['config', 'reach', 'namespace', 'auth', 'tokenLife', 'capabilities', 'key', 'roundTrip', 'socket', 'healthPort']);
    assert.ok(report.steps.every((s: { status: string }) => s.status === 'pass'));
    assert.equal(report.warnings, 0);
    assert.match(report.steps[5].detail, /listed by sys\/capabilities-self/);
  });

  it('logs in with AppRole', async () => {
    const run = await check([`-vault-address=${bao.url}`, '-auth-method=approle', `-approle-role-id=${bao.roleId}`], { VAULT_KMS_APPROLE_SECRET_ID: bao.secretId });
    assert.equal(run.code, 0, run.out);
    assert.match(line(run, 'authentication'), /^✓ authentication: approle login succeeded; the token expires in .*policies: .*kms/);
  });

  it('logs in with userpass, and names a wrong password without printing it', async () => {
    await bao.mustOk('POST', 'sys/auth/userpass', { type: 'userpass' });
    const password = `pw-${Date.now()}-correct`;
    const wrong = `pw-${Date.now()}-wrong`;
    secrets.push(password, wrong);
    await bao.mustOk('POST', 'auth/userpass/users/kms-check', { password, token_policies: ['kms'], token_ttl: '1h' });
    const args = [`-vault-address=${bao.url}`, '-auth-method=userpass', '-userpass-username=kms-check'];
    let run = await check(args, { VAULT_KMS_USERPASS_PASSWORD: password });
    assert.equal(run.code, 0, run.out);
    assert.match(line(run, 'authentication'), /^✓ authentication: userpass login succeeded/);
    run = await check(args, { VAULT_KMS_USERPASS_PASSWORD: wrong });
    assert.equal(run.code, 1);
    assert.match(line(run, 'authentication'), /^✗ authentication: /);
    assert.match(run.out, /fix: check -userpass-username, the password/);
  });

  it('with -dev skips the Vault steps and checks the socket', serverless, async () => {
    const run = await check(['-dev']);
    assert.equal(run.code, 0, run.out);
    assert.match(line(run, 'Vault reachable'), /^- Vault reachable: skipped \(because -dev uses the in-process transit backend/);
    assert.match(line(run, 'socket path'), /^✓ /);
  });
});

describe(`check on ${NAME}: Vault not reachable`, () => {
  const skippedAfterReach = (run: Run) => {
    for (const t of ['Vault namespace', 'authentication', 'token capabilities', 'transit key', 'encrypt/decrypt round trip']) {
      assert.match(line(run, t), /skipped \(because Vault is not reachable\)/);
    }
    assert.match(line(run, 'socket path'), /^✓ /, 'the socket is checked anyway');
    assert.equal(run.code, 1);
  };

  it('names a refused connection', serverless, async () => {
    const port = await TcpForwarder.freePort();
    const { args, env } = tokenArgs(bao.kmsToken, `http://127.0.0.1:${port}`);
    const run = await check(args, env);
    assert.match(line(run, 'Vault reachable'), /^✗ Vault reachable: .*nothing accepts connections there .*ECONNREFUSED/);
    assert.match(run.out, /fix: check that Vault runs and listens on 127\.0\.0\.1:\d+/);
    skippedAfterReach(run);
  });

  // On Node.js 20 (undici 6) such a request gets no error from undici: it ends at the step's deadline as "no answer in time".
  const nodeMajor = Number(process.env.KMS_PLUGIN_BIN ? 24 : process.versions.node.split('.')[0]);
  it('names a listener that closes the connection without an answer (e.g. the cluster port)', { skip: (nodeMajor < 22 && 'undici on Node.js 20 reports no error here; the step ends at its deadline') || serverless.skip }, async () => {
    const server = createServer((s) => s.destroy());
    await new Promise<void>((res) => server.listen(0, '127.0.0.1', res));
    try {
      const { args, env } = tokenArgs(bao.kmsToken, `http://127.0.0.1:${(server.address() as AddressInfo).port}`);
      const run = await check(args, env);
      assert.match(line(run, 'Vault reachable'), /^✗ .*the connection was closed without an HTTP answer/);
      assert.match(run.out, /fix: is 127\.0\.0\.1:\d+ Vault's API address\?/);
      skippedAfterReach(run);
    } finally {
      await new Promise((res) => server.close(res));
    }
  });

  it('with several addresses asks each node: one down fails the step, the later steps still run on the other', async () => {
    const port = await TcpForwarder.freePort();
    const down = `http://127.0.0.1:${port}`;
    let run = await check(...Object.values(tokenArgs(goodToken, `${bao.url},${bao.url.replace('127.0.0.1', 'localhost')}`)) as [string[], Record<string, string>]);
    assert.equal(run.code, 0, run.out);
    assert.match(line(run, 'Vault reachable'), /^✓ Vault reachable: all 2 addresses: /);
    run = await check(...Object.values(tokenArgs(goodToken, `${bao.url},${down}`)) as [string[], Record<string, string>]);
    assert.equal(run.code, 1);
    assert.match(line(run, 'Vault reachable'), new RegExp(`^✗ Vault reachable: 1 of 2 addresses fail: .*✗ ${down}: nothing accepts connections there`));
    for (const t of ['authentication', 'token capabilities', 'transit key', 'encrypt/decrypt round trip']) assert.match(line(run, t), /^✓ /);
  });

  it('names a host name that does not resolve', serverless, async () => {
    const { args, env } = tokenArgs(bao.kmsToken, 'http://vault.invalid:8200');
    const run = await check(args, env);
    assert.match(line(run, 'Vault reachable'), /^✗ .*the host name does not resolve/);
    assert.match(run.out, /fix: check the host name "vault\.invalid:8200"/);
    skippedAfterReach(run);
  });

  it('names a sealed Vault and how to unseal it', async () => {
    await bao.seal();
    try {
      const { args, env } = tokenArgs(bao.kmsToken);
      const run = await check(args, env);
      assert.match(line(run, 'Vault reachable'), new RegExp(`^✗ Vault reachable: .* answers \\(version ${bao.version.replace(/\./g, '\\.')}\\) but is sealed`));
      assert.match(run.out, /fix: unseal it: vault operator unseal \(bao operator unseal\)/);
      skippedAfterReach(run);
    } finally {
      await bao.unseal();
    }
  });

  it('names an invalid configuration and skips everything else', serverless, async () => {
    const run = await check(['-vault-address=ftp://x', '-auth-method=token'], { VAULT_KMS_VAULT_TOKEN: bao.kmsToken });
    assert.equal(run.code, 1);
    assert.match(line(run, 'configuration'), /^✗ configuration: invalid -vault-address/);
    // No auth method is known, so there is no token lifetime to skip.
    for (const t of STEP_TITLES.slice(1).filter((x) => x !== 'token lifetime')) assert.match(line(run, t), /skipped \(because the configuration is invalid\)/);
  });
});

describe(`check on ${NAME}: TLS`, () => {
  let tlsBao: RealServer;
  let pki: TestPki;
  let otherPki: TestPki;
  let tlsToken: string;
  before(async () => {
    pki = makeTestPki();
    otherPki = makeTestPki();
    tlsBao = await RealServer.start({ kind, mode: 'server', tls: pki });
    tlsToken = (await tlsBao.createToken({ policies: ['kms'], no_default_policy: true, period: '24h' })).token;
    secrets.push(tlsBao.rootToken, tlsBao.kmsToken, tlsToken);
  });
  after(async () => {
    await tlsBao.close();
    rmSync(pki.dir, { recursive: true, force: true });
    rmSync(otherPki.dir, { recursive: true, force: true });
  });

  it('passes with the right CA', async () => {
    const { args, env } = tokenArgs(tlsToken, tlsBao.url);
    const run = await check([...args, `-vault-ca-cert=${pki.caFile}`], env);
    assert.equal(run.code, 0, run.out);
  });

  it('VAULT_SKIP_VERIFY: a warning line (text and JSON), exit 0, and exit 1 with -strict', async () => {
    const { args, env } = tokenArgs(tlsToken, tlsBao.url);
    let run = await check(args, { ...env, VAULT_SKIP_VERIFY: 'true' });
    assert.equal(run.code, 0, run.out);
    assert.match(line(run, 'warning'), /^! warning: VAULT_SKIP_VERIFY is set: Vault's certificate is not verified/);
    assert.match(run.out, /fix: unset VAULT_SKIP_VERIFY and give the CA .* -vault-ca-cert/);
    assert.match(run.out, /no check failed, but 1 warning: fix them, or run check -strict to fail on them$/);
    assert.doesNotMatch(run.out, /all checks passed/);
    run = await check([...args, '-strict'], { ...env, VAULT_SKIP_VERIFY: 'true' });
    assert.equal(run.code, 1, run.out);
    assert.match(run.out, /no check failed, but 1 warning \(-strict: exit status 1\)/);
    run = await check([...args, '-output=json'], { ...env, VAULT_SKIP_VERIFY: 'true' });
    const report = JSON.parse(run.out);
    assert.equal(report.ok, true);
    assert.equal(report.warnings, 1);
    assert.deepEqual(report.steps.filter((s: { status: string }) => s.status === 'warn').map((s: { step: string }) => s.step), ['skipVerify']);
  });

  it('names an untrusted certificate (a CA that did not issue it) and the flag that fixes it', async () => {
    const { args, env } = tokenArgs(tlsBao.kmsToken, tlsBao.url);
    const run = await check([...args, `-vault-ca-cert=${otherPki.caFile}`], env);
    assert.equal(run.code, 1);
    assert.match(line(run, 'Vault reachable'), /^✗ .*TLS certificate is not trusted/);
    assert.match(run.out, /fix: give the CA that issued the Vault server certificate with -vault-ca-cert/);
  });

  it('names a server name the certificate does not carry', async () => {
    const { args, env } = tokenArgs(tlsBao.kmsToken, tlsBao.url);
    const run = await check([...args, `-vault-ca-cert=${pki.caFile}`], { ...env, VAULT_TLS_SERVER_NAME: 'other.example' });
    assert.equal(run.code, 1);
    assert.match(line(run, 'Vault reachable'), /^✗ .*does not name this host/);
    assert.match(run.out, /VAULT_TLS_SERVER_NAME/);
  });

  it('names http:// spoken to a TLS listener', async () => {
    const { args, env } = tokenArgs(tlsBao.kmsToken, tlsBao.url.replace('https:', 'http:'));
    const run = await check(args, env);
    assert.equal(run.code, 1);
    assert.match(line(run, 'Vault reachable'), /^✗ .*the server speaks TLS there, but the address says http:\/\//);
    assert.match(run.out, /fix: use https:\/\//);
  });

  it('names https spoken to a plain-http listener', async () => {
    const { args, env } = tokenArgs(bao.kmsToken, bao.url.replace('http:', 'https:'));
    const run = await check(args, env);
    assert.equal(run.code, 1);
    assert.match(line(run, 'Vault reachable'), /^✗ .*TLS handshake failed/);
  });
});

describe(`check on ${NAME}: credentials and policy`, () => {
  it('fails authentication with a bad token, names the fix (a periodic orphan token) and prints no token', async () => {
    // Each server's own token format: Vault hvs. and 95 characters, OpenBao s. and 26.
    const bad = kind === 'vault' ? `hvs.${'x'.repeat(95)}` : `s.${'x'.repeat(26)}`;
    secrets.push(bad);
    const { args, env } = tokenArgs(bad);
    const run = await check(args, env);
    assert.equal(run.code, 1);
    assert.match(line(run, 'authentication'), /^✗ authentication: .*invalid, expired or revoked/);
    assert.match(run.out, /fix: give a valid token with -token-file .*: vault token create -orphan -policy=kms -period=24h -field=token \| install /);
    for (const t of ['token lifetime', 'token capabilities', 'transit key', 'encrypt/decrypt round trip']) assert.match(line(run, t), /skipped \(because authentication failed\)/);
  });

  it('fails authentication with a wrong AppRole secret ID', async () => {
    const wrong = '00000000-0000-0000-0000-000000000000';
    const run = await check([`-vault-address=${bao.url}`, '-auth-method=approle', `-approle-role-id=${bao.roleId}`], { VAULT_KMS_APPROLE_SECRET_ID: wrong });
    assert.equal(run.code, 1);
    assert.match(line(run, 'authentication'), /^✗ authentication: .*invalid role or secret ID/);
  });

  for (const via of ['probe', 'capabilities-self'] as const) {
    for (const [path, capability] of Object.entries(PATHS)) {
      // Vault's default policy (which grants sys/capabilities-self) grants the two token paths itself.
      if (via === 'capabilities-self' && path.startsWith('auth/token/')) continue;
      it(`names the missing "${capability}" on ${path} and the policy rule that fixes it (${via})`, async () => {
        const token = await tokenWith(without(path), `kms-without-${path.replace(/\//g, '-')}-${via}`, via === 'capabilities-self');
        const { args, env } = tokenArgs(token);
        const run = await check(args, env);
        assert.equal(run.code, 1, run.out);
        const caps = line(run, 'token capabilities');
        assert.match(caps, new RegExp(`^✗ token capabilities: missing "${capability}" on ${path} \\(`));
        assert.match(caps, via === 'probe' ? /probed path by path/ : /listed by sys\/capabilities-self/);
        assert.equal((caps.match(/missing "/g) ?? []).length, 1, 'only the one missing path is named');
        assert.ok(run.lines.includes(`         path "${path}" { capabilities = ["${capability}"] }`), run.out);
        if (path === 'transit/keys/kms') assert.match(line(run, 'transit key'), /skipped \(because the token may not read transit\/keys\/kms: the policy does not allow it, or the key does not exist under that name\)/);
        if (path.includes('crypt')) assert.match(line(run, 'encrypt/decrypt round trip'), /skipped \(because the token may not update/);
      });
    }
  }
});

describe(`check on ${NAME}: -vault-namespace`, () => {
  if (kind === 'vault') {
    it('fails on the Community Edition, which ignores namespaces, and names the fix', async () => {
      // The namespace does not exist, and Vault CE would still serve it from the root namespace: every later step passes.
      const { args, env } = tokenArgs(bao.kmsToken);
      const run = await check([...args, '-vault-namespace=team-a'], env);
      assert.equal(run.code, 1, run.out);
      assert.match(line(run, 'Vault namespace'), /^✗ Vault namespace: "team-a" is set, but the server is Vault 1\.21\.4 Community Edition \(sys\/health: enterprise=false\), which has no namespaces: it ignores X-Vault-Namespace and serves every request from the root namespace, so the plugin would use the root namespace's transit\/keys\/kms/);
      assert.match(run.out, /fix: remove -vault-namespace \(VAULT_KMS_VAULT_NAMESPACE, VAULT_NAMESPACE\) and use a transit mount and key of the root namespace/);
      for (const t of ['authentication', 'token capabilities', 'transit key', 'encrypt/decrypt round trip']) assert.match(line(run, t), /^✓ /);
      // The same through VAULT_NAMESPACE.
      const viaEnv = await check(args, { ...env, VAULT_NAMESPACE: 'team-a' });
      assert.equal(viaEnv.code, 1, viaEnv.out);
      assert.match(line(viaEnv, 'Vault namespace'), /^✗ Vault namespace: "team-a" is set/);
    });
  } else {
    it('passes inside a namespace of OpenBao, which honours namespaces, and reads the namespace\'s key', async () => {
      const ns = `check${Date.now() % 100000}`;
      const { token } = await bao.namespaceWithKey(ns);
      secrets.push(token);
      const { args, env } = tokenArgs(token);
      const run = await check([...args, `-vault-namespace=${ns}`], env);
      assert.equal(run.code, 0, run.out);
      assert.match(line(run, 'Vault namespace'), new RegExp(`^✓ Vault namespace: "${ns}": the server \\(version 2\\.7\\.2\\) has namespaces`));
      assert.match(line(run, 'transit key'), /latest version 2 /, "the namespace's key (the root namespace's is at version 1)");
    });
  }
});

describe(`check on ${NAME}: the transit key`, () => {
  it('names a missing key and how to create it', async () => {
    const token = await tokenWith(forKey('absent'), 'kms-absent');
    const { args, env } = tokenArgs(token);
    const run = await check([...args, '-transit-key=absent'], env);
    assert.equal(run.code, 1);
    assert.match(line(run, 'transit key'), /^✗ transit key: no key "absent" at transit\/keys\/absent/);
    assert.match(run.out, /fix: create it: vault write -f transit\/keys\/absent type=aes256-gcm96/);
    assert.match(line(run, 'encrypt/decrypt round trip'), /skipped \(because the transit key is not usable\)/);
  });

  it('refuses a derived key', async () => {
    await bao.mustOk('POST', 'transit/keys/derived', { derived: true });
    const token = await tokenWith(forKey('derived'), 'kms-derived');
    const { args, env } = tokenArgs(token);
    const run = await check([...args, '-transit-key=derived'], env);
    assert.equal(run.code, 1);
    assert.match(line(run, 'transit key'), /^✗ transit key: key "derived" is a derived key/);
  });

  it('refuses a key type that cannot encrypt', async () => {
    await bao.mustOk('POST', 'transit/keys/signing', { type: 'ed25519' });
    const token = await tokenWith(forKey('signing'), 'kms-signing');
    const { args, env } = tokenArgs(token);
    const run = await check([...args, '-transit-key=signing'], env);
    assert.equal(run.code, 1);
    assert.match(line(run, 'transit key'), /^✗ transit key: key "signing" is of type ed25519, which cannot encrypt/);
  });
});

describe('check: the socket path', serverless, () => {
  it('fails when the directory cannot be created, and passes when the plugin would create it', async () => {
    const base = mkdtempSync(join(tmpdir(), 'kms-check-'));
    try {
      writeFileSync(join(base, 'file'), 'x');
      let run = await check(['-dev', `-socket=unix://${join(base, 'file/sub/kms.socket')}`]);
      assert.equal(run.code, 1);
      assert.match(line(run, 'socket path'), /^✗ socket path: the directory .*file\/sub does not exist and cannot be created/);
      run = await check(['-dev', `-socket=unix://${join(base, 'new/kms.socket')}`]);
      assert.equal(run.code, 0);
      assert.match(line(run, 'socket path'), /will create it/);
    } finally {
      rmSync(base, { recursive: true, force: true });
    }
  });

  it('does not touch a regular file at the socket path', async () => {
    const dir = tempSocketDir();
    try {
      const path = join(dir, 'kms.socket');
      writeFileSync(path, 'operator data');
      const run = await check(['-dev', `-socket=unix://${path}`]);
      assert.equal(run.code, 1);
      assert.match(line(run, 'socket path'), /^✗ socket path: a regular file is at .*left untouched/);
      assert.equal(readFileSync(path, 'utf8'), 'operator data');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('run beside a live plugin: the socket answers Status and the health port is the plugin\'s own, so both pass', async () => {
    const dir = tempSocketDir();
    const socket = join(dir, 'kms.socket');
    const port = await TcpForwarder.freePort();
    const plugin = new PluginProcess(['-dev', `-socket=unix://${socket}`, `-health-port=127.0.0.1:${port}`]);
    try {
      await plugin.waitForSocket(socket);
      await plugin.waitForLog((l) => l.message === 'health endpoints listening', 15_000);
      const run = await check(['-dev', `-socket=unix://${socket}`, `-health-port=127.0.0.1:${port}`]);
      assert.equal(run.code, 0, run.out);
      assert.match(line(run, 'socket path'), /^✓ socket path: a KMS plugin is already serving .*kms\.socket and answers Status \(KMS v2, healthz: ok, key_id: \d+\): checked beside the running plugin/);
      assert.match(line(run, 'health port'), new RegExp(`^✓ health port: 127\\.0\\.0\\.1:${port} is held by the plugin that serves .*kms\\.socket \\(pid ${plugin.pid}, `));
    } finally {
      await plugin.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('fails when a process that is no KMS plugin listens on the socket', async () => {
    const dir = tempSocketDir();
    const socket = join(dir, 'kms.socket');
    const server = createServer((s) => s.destroy());
    await new Promise<void>((res) => server.listen(socket, res));
    try {
      const run = await check(['-dev', `-socket=unix://${socket}`]);
      assert.equal(run.code, 1, run.out);
      assert.match(line(run, 'socket path'), /^✗ socket path: a process is listening on .* but does not answer as a KMS plugin/);
    } finally {
      await new Promise((res) => server.close(res));
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe(`check on ${NAME}: the health port`, () => {
  it('fails on a taken port and names the process that holds it', async () => {
    const squatter = createServer();
    await new Promise<void>((res) => squatter.listen(0, '127.0.0.1', res));
    const port = (squatter.address() as AddressInfo).port;
    try {
      const run = await check(['-dev', `-health-port=127.0.0.1:${port}`]);
      assert.equal(run.code, 1, run.out);
      assert.match(line(run, 'health port'), new RegExp(`^✗ health port: 127\\.0\\.0\\.1:${port} is already in use by pid ${process.pid}, `));
      assert.match(run.out, /fix: stop what holds the port, or give the plugin another -health-port \(VAULT_KMS_HEALTH_PORT\)/);
      // A port held on one address is also refused to "every interface" (-health-port=:PORT, the plugin's default form).
      const all = await check(['-dev', `-health-port=:${port}`]);
      assert.match(line(all, 'health port'), new RegExp(`^✗ health port: \\*:${port} is already in use by pid ${process.pid}`));
    } finally {
      await new Promise((res) => squatter.close(res));
    }
  });

  const unprivilegedFrom = Number(readFileSync('/proc/sys/net/ipv4/ip_unprivileged_port_start', 'utf8'));
  it('fails on a port below 1024 for a user who may not bind it', { skip: (process.getuid?.() !== 0 || unprivilegedFrom <= 80) && 'needs root to run check as another user, and port 80 privileged' }, async () => {
    const run = await check(['-dev', '-health-port=127.0.0.1:80', `-socket=unix://${join(tmpdir(), `kms-check-${process.pid}`, 'kms.socket')}`], {}, { uid: 65534, gid: 65534 });
    assert.equal(run.code, 1, run.out + run.err);
    assert.match(line(run, 'health port'), /^✗ health port: 127\.0\.0\.1:80: binding a port below 1024 needs root or CAP_NET_BIND_SERVICE \(this user: uid 65534\)/);
  });
});

describe(`check on ${NAME}: a token that will die (token auth cannot get a new one)`, () => {
  const cases: [string, Record<string, unknown>, RegExp][] = [
    ['a 2-minute token', { ttl: '2m' }, /^✗ token lifetime: the token is not periodic: it dies at its maximum TTL however often it is renewed \(TTL now (1m5\ds|2m)\)/],
    ['a non-periodic 24-hour token', { ttl: '24h' }, /^✗ token lifetime: the token is not periodic/],
    ['a periodic token with an explicit max TTL', { period: '24h', explicit_max_ttl: '48h' }, /^✗ token lifetime: the token has an explicit maximum TTL \(48h from its creation\)/],
    ['a token with a 1-hour period', { period: '1h' }, /^✗ token lifetime: the token's period is 1h: a plugin stopped for longer/],
  ];
  for (const [what, body, expected] of cases) {
    it(`fails ${what}, with the periodic orphan token command as the fix`, async () => {
      const { token } = await bao.createToken({ policies: ['kms'], no_default_policy: true, ...body });
      secrets.push(token);
      const { args, env } = tokenArgs(token);
      const run = await check(args, env);
      assert.equal(run.code, 1, run.out);
      assert.match(line(run, 'token lifetime'), expected);
      assert.match(run.out, /fix: create a periodic orphan token: vault token create -orphan -policy=kms -period=24h -field=token \| install -o 65532 -g 65532 -m 0400 \/dev\/stdin \/opt\/kms\/token \(bao token create on OpenBao/);
      assert.match(run.out, /1 check failed$/);
      for (const t of ['token capabilities', 'transit key', 'encrypt/decrypt round trip']) assert.match(line(run, t), /^✓ /, 'the other steps still run');
    });
  }

  it('writes the fix to the -token-file the plugin reads', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'kms-check-token-'));
    try {
      const { token } = await bao.createToken({ policies: ['kms'], no_default_policy: true, ttl: '2m' });
      secrets.push(token);
      writeFileSync(join(dir, 'token'), `${token}\n`, { mode: 0o400 });
      const run = await check([`-vault-address=${bao.url}`, '-auth-method=token', `-token-file=${join(dir, 'token')}`]);
      assert.equal(run.code, 1, run.out);
      assert.ok(run.out.includes(`-m 0400 /dev/stdin ${join(dir, 'token')} (bao token create on OpenBao; the plugin reads -token-file again at every login)`), run.out);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('does not judge the lifetime of a token a login created (the plugin logs in again)', async () => {
    const run = await check([`-vault-address=${bao.url}`, '-auth-method=approle', `-approle-role-id=${bao.roleId}`], { VAULT_KMS_APPROLE_SECRET_ID: bao.secretId });
    assert.equal(run.code, 0, run.out);
    assert.equal(run.lines.some((l) => l.includes('token lifetime')), false);
  });
});

describe(`check on ${NAME}: AppRole never locks the role, and leaves no token behind`, () => {
  const accessors = async () => ((await bao.mustOk('GET', 'auth/token/accessors?list=true')).json.data.keys as string[]).length;
  const approle = (roleId: string) => [`-vault-address=${bao.url}`, '-auth-method=approle', `-approle-role-id=${roleId}`];

  it('revokes the token its login created: as many tokens after each run as before', async () => {
    const before = await accessors();
    for (let i = 0; i < 3; i++) {
      const run = await check(approle(bao.roleId), { VAULT_KMS_APPROLE_SECRET_ID: bao.secretId });
      assert.equal(run.code, 0, run.out);
    }
    assert.equal(await accessors(), before, 'a check run left a live token behind');
  });

  it('never revokes the token it was given (token auth)', async () => {
    const run = await check(...(Object.values(tokenArgs(goodToken)) as [string[], Record<string, string>]));
    assert.equal(run.code, 0, run.out);
    assert.equal((await bao.api('GET', 'auth/token/lookup-self').then(() => bao.mustOk('POST', 'auth/token/lookup', { token: goodToken }))).status, 200);
  });

  it('warns when the token cannot revoke itself (a role without the default policy) and says how to let it', async () => {
    await bao.mustOk('POST', 'auth/approle/role/kms-nodefault', { token_policies: ['kms'], token_no_default_policy: true, token_period: '1h' });
    const roleId = (await bao.mustOk('GET', 'auth/approle/role/kms-nodefault/role-id')).json.data.role_id as string;
    const secretId = (await bao.mustOk('POST', 'auth/approle/role/kms-nodefault/secret-id', {})).json.data.secret_id as string;
    secrets.push(secretId);
    const run = await check(approle(roleId), { VAULT_KMS_APPROLE_SECRET_ID: secretId });
    assert.equal(run.code, 0, run.out);
    assert.match(line(run, 'warning'), /^! warning: the token this check logged in with could not be revoked \(.*permission denied.*\): it stays valid until its TTL ends/);
    assert.match(run.out, /fix: allow "update" on auth\/token\/revoke-self/);
  });

  it('a wrong secret ID: one login per run, and the detail warns that repeated attempts lock the role', async () => {
    await bao.mustOk('POST', 'auth/approle/role/kms-wrong', { token_policies: ['kms'], token_period: '1h' });
    const roleId = (await bao.mustOk('GET', 'auth/approle/role/kms-wrong/role-id')).json.data.role_id as string;
    const roleHash = await bao.auditHash(roleId);
    const start = statSync(bao.auditFile).size;
    const wrong = '00000000-0000-0000-0000-000000000000';
    const run = await check(approle(roleId), { VAULT_KMS_APPROLE_SECRET_ID: wrong });
    assert.equal(run.code, 1);
    const logins = bao.auditEntriesSince(start).filter((e) => e.type === 'request' && e.request?.path === 'auth/approle/login' && e.request?.data?.role_id === roleHash);
    assert.equal(logins.length, 1, 'check sent the refused secret ID more than once');
    assert.match(line(run, 'authentication'), /^✗ authentication: .*invalid role or secret ID.*; check tried once and stops: repeated failed logins, by check or by the plugin on every node, lock the role ID for every node/);
    assert.match(run.out, /fix: check -approle-role-id and the secret ID .* before running check again; issue a new secret ID with: vault write -f auth\/approle\/role\/<role>\/secret-id/);
  });

  it('after a lockout: the fix is the unlock command, which works as printed', async () => {
    await bao.mustOk('POST', 'auth/approle/role/kms-locked', { token_policies: ['kms'], token_period: '1h' });
    const roleId = (await bao.mustOk('GET', 'auth/approle/role/kms-locked/role-id')).json.data.role_id as string;
    const secretId = (await bao.mustOk('POST', 'auth/approle/role/kms-locked/secret-id', {})).json.data.secret_id as string;
    secrets.push(secretId);
    // Another node with a stale secret ID trips the lockout (5 failures by default).
    for (let i = 0; i < 6; i++) await fetch(`${bao.url}/v1/auth/approle/login`, { method: 'POST', body: JSON.stringify({ role_id: roleId, secret_id: `wrong-${i}` }) });
    const run = await check(approle(roleId), { VAULT_KMS_APPROLE_SECRET_ID: secretId });
    assert.equal(run.code, 1, run.out);
    assert.match(line(run, 'authentication'), /^✗ authentication: .*locked by user lockout/);
    const fix = /fix: wait for the lockout to end, or unlock the role ID: (vault write -f sys\/locked-users\/\$\(vault read -field=accessor sys\/auth\/approle\)\/unlock\/(\S+)) \(bao on OpenBao/.exec(run.out);
    assert.ok(fix, run.out);
    assert.equal(fix[2], roleId);
    assert.doesNotMatch(run.out, /issue a new secret ID/);
    // The printed command, done through the API: the accessor of sys/auth/approle, then the unlock.
    const accessor = (await bao.mustOk('GET', 'sys/auth/approle')).json.data.accessor as string;
    await bao.mustOk('POST', `sys/locked-users/${accessor}/unlock/${fix[2]}`, {});
    const after = await check(approle(roleId), { VAULT_KMS_APPROLE_SECRET_ID: secretId });
    assert.equal(after.code, 0, after.out);
  });
});

describe(`check on ${NAME}: a -transit-key the policy does not name`, () => {
  it('says the key may not exist or be misspelt, as well as the policy', async () => {
    const { args, env } = tokenArgs(goodToken);
    const run = await check([...args, '-transit-key=kmss'], env);
    assert.equal(run.code, 1, run.out);
    assert.match(line(run, 'token capabilities'), /^✗ token capabilities: missing .* on transit\/encrypt\/kmss .*; or the key "kmss" does not exist or is misspelt \(a policy for another key denies it the same way\)/);
    assert.match(run.out, /or, if "kmss" is not the key's name: set -transit-key \(VAULT_KMS_TRANSIT_KEY\) to the key the policy names \(vault list transit\/keys\)/);
    assert.match(line(run, 'transit key'), /skipped \(because the token may not read transit\/keys\/kmss: the policy does not allow it, or the key does not exist under that name\)/);
  });
});

describe(`check on ${NAME}: insecure set-ups are warnings`, () => {
  it('a root token: a warning, not a pass', async () => {
    const run = await check(...(Object.values(tokenArgs(bao.rootToken)) as [string[], Record<string, string>]));
    assert.equal(run.code, 0, run.out);
    assert.match(line(run, 'token lifetime'), /^✓ token lifetime: the token never expires/);
    assert.match(line(run, 'warning'), /^! warning: the token has the root policy: it may do anything in Vault, and it never expires/);
    assert.match(run.out, /no check failed, but 1 warning/);
  });

  it('plain http:// to a host that is not loopback', async () => {
    const run = await check(...(Object.values(tokenArgs(goodToken, 'http://vault.invalid:8200')) as [string[], Record<string, string>]), );
    assert.match(line(run, 'warning'), /^! warning: http:\/\/vault\.invalid:8200 is plain http:\/\/ to another host: the token and every data key cross the network unencrypted/);
    const json = JSON.parse((await check([...tokenArgs(goodToken, 'http://vault.invalid:8200').args, '-output=json'], { VAULT_KMS_VAULT_TOKEN: goodToken })).out);
    assert.equal(json.steps[1].step, 'plainHttp');
    assert.equal(json.steps[1].status, 'warn');
    // Loopback is not warned about (the tests above all use http://127.0.0.1).
    const local = await check(...(Object.values(tokenArgs(goodToken)) as [string[], Record<string, string>]));
    assert.equal(local.lines.some((l) => l.startsWith('! ')), false, local.out);
  });

  it('a credential file others may read, or owned by another user; and the plugin warns about it once at start-up', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'kms-check-cred-'));
    const file = join(dir, 'token');
    try {
      writeFileSync(file, `${goodToken}\n`, { mode: 0o644 });
      chmodSync(file, 0o644);
      const args = [`-vault-address=${bao.url}`, '-auth-method=token', `-token-file=${file}`];
      let run = await check(args);
      assert.equal(run.code, 0, run.out);
      assert.ok(run.lines.includes(`! warning: the -token-file file ${file} is readable by every user (mode 0644)`), run.out);
      assert.match(run.out, /fix: chmod 0400 /);
      chmodSync(file, 0o400);
      run = await check(args);
      assert.equal(run.lines.some((l) => l.startsWith('! ')), false, run.out);
      chownSync(file, 65534, 65534);
      run = await check(args);
      assert.ok(run.lines.includes(`! warning: the -token-file file ${file} is owned by uid 65534, not by this process's uid ${process.getuid?.()}`), run.out);
      chownSync(file, process.getuid?.() ?? 0, process.getgid?.() ?? 0);
      chmodSync(file, 0o640);
      const socket = join(dir, 'kms.socket');
      const plugin = new PluginProcess([...args, `-socket=unix://${socket}`, '-health-port=127.0.0.1:0']);
      try {
        await plugin.waitForSocket(socket);
        const warning = await plugin.waitForLog((l) => /credential file is exposed/.test(String(l.message)));
        assert.equal(warning.level, 'warn');
        assert.equal(warning.file, file);
        assert.equal(warning.problem, 'readable by its group (mode 0640)');
        assert.equal(plugin.logs().filter((l) => /credential file is exposed/.test(String(l.message))).length, 1);
      } finally {
        await plugin.stop();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
