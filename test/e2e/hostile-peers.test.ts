import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { status } from '@grpc/grpc-js';
import { FakeWorkloadApi, type FetchAnswer } from '../support/fake-workload-api';
import { ForwardProxy } from '../support/forward-proxy';
import { HostileHttpServer } from '../support/hostile-http';
import { PluginFixture } from '../support/plugin-fixture';
import { PluginProcess, eventually, tempSocketDir } from '../support/plugin-process';

/**
 * Security round 3, part A (issue 22 items 3, 4, 6, 9 and 10): a hostile Vault
 * node, a hostile SPIFFE agent, a proxy and operator mistakes, against the
 * built CLI (or, with KMS_PLUGIN_BIN, the packaged artifact) as a separate
 * process. Vault and the agent are played by servers written here: a real
 * one cannot be made to send a forged line or 60,000 identities.
 */
const plugins = new PluginFixture();
const closers: (() => Promise<void>)[] = [];
after(async () => {
  await plugins.stopAll();
  for (const close of closers) await close();
});

/** A forged check line, an OSC-8 hyperlink, a C1 CSI "clear screen" and a right-to-left override. */
const FORGED = 'internal error\n✓ authentication: FORGED\r\n\x1b]8;;https://evil.example/\x07click here\x1b]8;;\x07 \x9b2J \u202eevil';
/** Just under the 1 MiB answer limit: the plugin reads it, and must not pass it on. */
const HUGE_ERROR = `${FORGED} ${'A'.repeat(900_000)}`;
/** Every character outside text must not bring into a line: C0 but for the line feed ending it, DEL, C1, separators, bidi. */
const UNPRINTABLE = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/;

interface HostileVaultOptions {
  /** What POST auth/approle/login issues as client_token. */
  readonly issuedToken?: string;
  /** The `errors` of the 500 every transit request is answered with. */
  readonly transitError: string;
  readonly version?: string;
  readonly policies?: readonly string[];
}

/** A Vault node that logs the plugin in and then answers every transit request with a hostile error body. */
async function hostileVault(o: HostileVaultOptions): Promise<HostileHttpServer> {
  const json = (res: import('node:http').ServerResponse, code: number, body: unknown) => {
    res.writeHead(code, { 'content-type': 'application/json' });
    res.end(JSON.stringify(body));
  };
  const server = await new HostileHttpServer((req, res, body) => {
    const path = (req.url ?? '').split('?')[0];
    if (path === '/v1/sys/health') return json(res, 200, { initialized: true, sealed: false, standby: false, version: o.version ?? '1.21.4' });
    if (path === '/v1/auth/approle/login') return json(res, 200, { auth: { client_token: o.issuedToken ?? 'hvs.unused', lease_duration: 3600, renewable: true } });
    if (path === '/v1/auth/token/lookup-self') return json(res, 200, { data: { ttl: 3600, creation_ttl: 3600, renewable: true, period: 0, policies: o.policies ?? ['default', 'kms'] } });
    if (path === '/v1/auth/token/renew-self') return json(res, 200, { auth: { client_token: 'hvs.unused', lease_duration: 3600 } });
    if (path === '/v1/sys/capabilities-self') {
      const paths = (JSON.parse(body || '{}') as { paths?: string[] }).paths ?? [];
      return json(res, 200, { data: Object.fromEntries(paths.map((p) => [p, ['read', 'update']])) });
    }
    return json(res, 500, { errors: [o.transitError] });
  }).start();
  closers.push(() => server.close());
  return server;
}

async function healthBody(p: PluginProcess): Promise<{ status: number; body: string }> {
  const res = await fetch(`http://127.0.0.1:${await p.healthPort()}/health?verbose`);
  return { status: res.status, body: await res.text() };
}

/** `check` as an operator runs it; resolves with its exit code and output. */
async function runCheck(args: string[], env: Record<string, string> = {}): Promise<{ code: number | null; out: string; lines: string[] }> {
  const p = new PluginProcess(['check', `-socket=unix://${join(tempSocketDir(), 'kms.socket')}`, ...args], env);
  const code = await p.exited;
  return { code, out: p.stdout.join('\n'), lines: p.stdout };
}

const TOKEN = 'hvs.CAESIJ7mEWlq4NHlo1Tab2hXVoE5kXhfQ9cqDk3m0yVb8xN2Gh4KHGh2cy5rbXNUZXN0VG9rZW4';

describe('a hostile Vault node (issue 22 items 3 and 4)', () => {
  it('huge error bodies with a forged line and an OSC-8 link: /health and the log stay short, one line each, no control character', async () => {
    const vault = await hostileVault({ transitError: HUGE_ERROR });
    const { p, client } = await plugins.start([`-vault-address=${vault.url}`, '-auth-method=token', `-token=${TOKEN}`], { waitHealthy: false });
    await eventually(() => client.status(), (s) => /Vault failed/.test(s.healthz), 20_000);

    const health = await healthBody(p);
    assert.equal(health.status, 503);
    assert.ok(health.body.length < 1500, `/health body is ${health.body.length} bytes`);
    assert.doesNotMatch(health.body, UNPRINTABLE, `a control character in /health: ${JSON.stringify(health.body.slice(0, 400))}`);
    // Vault's own line breaks become spaces (its multierror format), everything else a visible escape.
    assert.match(health.body, /internal error ✓ authentication: FORGED \\x1b\]8;;https:\/\/evil\.example\/\\x07click here/, 'the evidence stays readable, escaped');
    assert.equal(health.body.split('\n').filter((l) => l !== '').length, 2, 'the reason and the one address: a line each');
    const status2 = await client.status();
    assert.doesNotMatch(status2.healthz, UNPRINTABLE);
    assert.ok(status2.healthz.length < 1500, `Status healthz is ${status2.healthz.length} characters`);

    for (const line of p.stdout) {
      assert.ok(line.length < 8192, `a log line of ${line.length} bytes`);
      // JSON escapes C0 itself; DEL, C1 and the Unicode controls it would write raw.
      assert.doesNotMatch(JSON.stringify(JSON.parse(line)), UNPRINTABLE);
      assert.doesNotMatch(line, /[\u007f-\u009f\u2028\u2029\u202a-\u202e]/);
    }
    assert.ok(p.logs().some((l) => l.message === 'health check failed' && /evil\.example/.test(String(l.reason))), 'the failure is logged');
  });

  it('check: no control character, no forged "✓" line, bounded, with a forged version and 20,000 policy names', async () => {
    const vault = await hostileVault({
      transitError: HUGE_ERROR,
      version: `1.21.4\n✓ authentication: FORGED\x1b[32m`,
      // As many as fit in the 1 MiB an answer may have.
      policies: Array.from({ length: 20_000 }, (_, i) => `policy-${i}\x1b[1m`),
    });
    const run = await runCheck([`-vault-address=${vault.url}`, '-auth-method=token'], { VAULT_KMS_VAULT_TOKEN: TOKEN });
    assert.equal(run.code, 1, run.out);
    assert.doesNotMatch(run.out, UNPRINTABLE, JSON.stringify(run.out.slice(0, 600)));
    for (const line of run.lines) {
      assert.match(line, /^(✓ |✗ |- |    fix: |         |all checks passed$|\d+ checks? failed$)/, `a line check did not write: ${JSON.stringify(line.slice(0, 200))}`);
      assert.doesNotMatch(line, /^✓ authentication: FORGED/);
    }
    assert.ok(run.out.length < 8000, `check printed ${run.out.length} characters`);
    assert.match(run.out, /policies: policy-0\\x1b\[1m, .* and 19,990 more/);
    assert.match(run.out, /version 1\.21\.4\\n✓ authentication: FORGED\\x1b\[32m/);
  });
});

describe('a hostile SPIFFE agent (issue 22 items 3 and 4)', () => {
  const KMS_ID = 'spiffe://kms.test/vault-kubernetes-kms';
  async function agent(answer: (req: unknown) => FetchAnswer): Promise<{ endpoint: string; api: FakeWorkloadApi }> {
    const dir = mkdtempSync(join(tmpdir(), 'kms-agent-'));
    const api = new FakeWorkloadApi(answer);
    const endpoint = await api.start(join(dir, 'agent.sock'));
    closers.push(() => api.close());
    return { endpoint, api };
  }
  const spiffeArgs = (endpoint: string, vaultUrl: string) => [
    `-vault-address=${vaultUrl}`,
    '-auth-method=jwt',
    '-jwt-role=kms',
    '-jwt-token-source=spiffe',
    `-jwt-spiffe-endpoint=${endpoint}`,
    '-jwt-spiffe-audience=vault',
    `-jwt-spiffe-id=${KMS_ID}`,
  ];

  it('60,000 SVIDs, none for the requested ID: the log and /health name three and count the rest', async () => {
    // 3.7 MB: within gRPC's 4 MiB message limit, as a real agent's answer would have to be.
    const svids = Array.from({ length: 60_000 }, (_, i) => ({ spiffe_id: `spiffe://evil.test/${String(i).padStart(6, '0')}-${'w'.repeat(24)}`, svid: 'a.b.c' }));
    const { endpoint, api } = await agent(() => ({ svids }));
    const vault = await hostileVault({ transitError: 'unused' });
    const { p } = await plugins.start(spiffeArgs(endpoint, vault.url), { waitHealthy: false });
    const line = await p.waitForLog((l) => /returned no JWT-SVID/.test(String(l.error)), 30_000);
    const error = String(line.error);
    assert.ok(api.requests.length >= 1);
    assert.ok(error.length < 1000, `the error names ${error.length} characters`);
    assert.match(error, /it returned only spiffe:\/\/evil\.test\/000000-w+, spiffe:\/\/evil\.test\/000001-w+, spiffe:\/\/evil\.test\/000002-w+ and 59,997 more\)/);
    for (const l of p.stdout) assert.ok(l.length < 8192, `a log line of ${l.length} bytes`);
    const health = await eventually(() => healthBody(p), (h) => /returned no JWT-SVID/.test(h.body), 20_000);
    assert.ok(health.body.length < 1500, `/health body is ${health.body.length} bytes`);
    assert.match(health.body, /and 59,997 more/);
  });

  it('error details with line breaks, escapes and 5,000 characters: one bounded line in the log, /health and check', async () => {
    // As long as gRPC's 8 KiB of trailers lets an agent send (a longer status message never arrives).
    const details = `no identity issued\n✓ authentication: FORGED\x1b]8;;https://evil.example/\x07x\x1b]8;;\x07\x9b2J ${'D'.repeat(5000)}`;
    const { endpoint } = await agent(() => ({ code: status.PERMISSION_DENIED, details }));
    const vault = await hostileVault({ transitError: 'unused' });
    const { p } = await plugins.start(spiffeArgs(endpoint, vault.url), { waitHealthy: false });
    const health = await eventually(() => healthBody(p), (h) => /issued no JWT-SVID/.test(h.body), 20_000);
    assert.doesNotMatch(health.body, UNPRINTABLE, JSON.stringify(health.body.slice(0, 400)));
    assert.ok(health.body.length < 1500, `/health body is ${health.body.length} bytes`);
    assert.match(health.body, /no identity issued\\n✓ authentication: FORGED\\x1b\]8;;/);
    for (const l of p.stdout) {
      assert.ok(l.length < 8192, `a log line of ${l.length} bytes`);
      assert.doesNotMatch(l, /[\u007f-\u009f]/);
    }

    const run = await runCheck(spiffeArgs(endpoint, vault.url));
    assert.equal(run.code, 1, run.out);
    assert.doesNotMatch(run.out, UNPRINTABLE, JSON.stringify(run.out.slice(0, 600)));
    for (const line of run.lines) assert.doesNotMatch(line, /^✓ authentication: FORGED/);
    assert.ok(run.out.length < 8000, `check printed ${run.out.length} characters`);
  });
});

describe('a hostile Vault issuing "evidence" as its token (issue 22 item 6)', () => {
  it("the word stays in every later log line; the operator's secret ID is still never printed", async () => {
    const vault = await hostileVault({ issuedToken: 'evidence', transitError: 'evidence of tampering: the key store was replaced' });
    const dir = mkdtempSync(join(tmpdir(), 'kms-approle-'));
    writeFileSync(join(dir, 'secret-id'), '3f1c2d4e-5a6b-4c7d-8e9f-0a1b2c3d4e5f\n', { mode: 0o600 });
    const { p } = await plugins.start(
      [`-vault-address=${vault.url}`, '-auth-method=approle', '-approle-role-id=kms-role', `-approle-secret-id-file=${join(dir, 'secret-id')}`],
      { waitHealthy: false },
    );
    const failed = await p.waitForLog((l) => l.message === 'health check failed', 20_000);
    assert.match(String(failed.reason), /evidence of tampering: the key store was replaced/, String(failed.reason));
    assert.doesNotMatch(p.stdout.join('\n'), /\[redacted\] of tampering/);
    assert.ok(p.logs().some((l) => l.message === 'authenticated to Vault'), 'the login itself succeeded');
    assert.doesNotMatch(p.stdout.join('\n'), /3f1c2d4e-5a6b-4c7d-8e9f-0a1b2c3d4e5f/, "the operator's secret ID is still never printed");
  });
});

describe('proxy configuration and operator mistakes (issue 22 items 9 and 10)', () => {
  it('a malformed NO_PROXY entry with a proxy set: exit 2 naming NO_PROXY and the entry (was a crash naming neither)', async () => {
    for (const [name, proxyVar] of [['NO_PROXY', 'HTTPS_PROXY'], ['no_proxy', 'https_proxy']] as const) {
      const p = plugins.adopt(
        new PluginProcess(['-vault-address=https://10.1.2.3:8200', '-auth-method=token', `-socket=unix://${join(tempSocketDir(), 'k.sock')}`, '-health-port=127.0.0.1:0'], {
          VAULT_KMS_VAULT_TOKEN: TOKEN,
          [proxyVar]: 'http://127.0.0.1:9',
          [name]: 'localhost,10.0.0.0/99',
        }),
      );
      assert.equal(await p.exited, 2, p.stderr.join('\n'));
      const err = p.stderr.join('\n');
      assert.match(err, new RegExp(`invalid ${name}: entry "10\\.0\\.0\\.0/99"`));
      assert.doesNotMatch(err, /fatal|out of range/);
    }
  });

  it('a CRLF inside the -token-file content: says the file holds characters a header cannot carry, naming the file, never the content', async () => {
    const vault = await hostileVault({ transitError: 'unused' });
    const dir = mkdtempSync(join(tmpdir(), 'kms-token-'));
    const file = join(dir, 'token');
    writeFileSync(file, 'hvs.FirstHalfOfTheToken\r\nSecondHalfOfTheToken42\n', { mode: 0o600 });
    const { p, client } = await plugins.start([`-vault-address=${vault.url}`, '-auth-method=token', `-token-file=${file}`], { waitHealthy: false });
    const line = await p.waitForLog((l) => l.message === 'Vault token check failed; retrying with backoff', 20_000);
    assert.match(String(line.error), new RegExp(`-token-file \\(VAULT_KMS_TOKEN_FILE\\) file ${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} holds characters an HTTP header cannot carry`));
    const s = await eventually(() => client.status(), (x) => /header cannot carry/.test(x.healthz), 20_000);
    const printed = `${p.stdout.join('\n')}\n${p.stderr.join('\n')}\n${s.healthz}`;
    assert.doesNotMatch(printed, /UND_ERR_INVALID_ARG/);
    assert.doesNotMatch(printed, /FirstHalfOfTheToken|SecondHalfOfTheToken/);
    assert.equal(vault.requests.filter((r) => r.url.includes('lookup-self')).length, 0, 'nothing was sent with the broken token');
  });

  it('a proxy answering 407: says the proxy refused the credentials (was UND_ERR_ABORTED), never printing them', async () => {
    const proxy = await new ForwardProxy({ refuseWith: 407 }).start();
    closers.push(() => proxy.close());
    const proxyUrl = proxy.url.replace('http://', 'http://kms:proxy-pass-8472@');
    // vault.test resolves nowhere: only a proxy could reach it, so every request goes to the proxy.
    const { p, client } = await plugins.start(['-vault-address=https://vault.test:8200', '-auth-method=token', `-token=${TOKEN}`], {
      env: { HTTPS_PROXY: proxyUrl },
      waitHealthy: false,
    });
    const s = await eventually(() => client.status(), (x) => /407/.test(x.healthz), 20_000);
    assert.match(s.healthz, new RegExp(`the proxy ${proxy.url.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} \\(HTTPS_PROXY or https_proxy\\) refused the credentials in the proxy URL \\(HTTP 407 Proxy Authentication Required\\)`));
    assert.ok(proxy.requests.length > 0 && proxy.requests.every((r) => r.method === 'CONNECT' && r.authorized), 'the credentials were offered to the proxy');
    const printed = `${p.stdout.join('\n')}\n${p.stderr.join('\n')}\n${s.healthz}`;
    assert.doesNotMatch(printed, /UND_ERR_ABORTED/);
    assert.doesNotMatch(printed, /proxy-pass-8472/);

    // Without credentials in the URL: it says to give them.
    const bare = await plugins.start(['-vault-address=https://vault.test:8200', '-auth-method=token', `-token=${TOKEN}`], { env: { HTTPS_PROXY: proxy.url }, waitHealthy: false });
    const s2 = await eventually(() => bare.client.status(), (x) => /407/.test(x.healthz), 20_000);
    assert.match(s2.healthz, /asks for credentials \(HTTP 407 Proxy Authentication Required\): give them in HTTPS_PROXY as http:\/\/user:password@host:port/);
  });
});
