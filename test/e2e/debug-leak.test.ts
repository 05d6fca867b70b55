import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { lstatSync, mkdirSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { status } from '@grpc/grpc-js';
import { KmsTestClient } from '../support/kms-client';
import { RealServer } from '../support/real-server';
import { PluginProcess, eventually, sleep, tempSocketDir } from '../support/plugin-process';
import { PLAINTEXT_MARKER, captureSecret, markedPlaintext } from '../support/leak-capture';

/**
 * The leak path a green run used to leave open: everything the plugin logs at debug level. Two plugins run with
 * -debug against real OpenBao, one with token auth and one with AppRole (a short token TTL, so it renews and logs in
 * again during the run), each handed its credential on the command line, and serve marked plaintexts over KMS v2 and
 * v1, with failures mixed in. Then everything they wrote (stdout, stderr, every file under their working directory,
 * HOME and socket directory) and everything they served (/metrics, /health?verbose, gRPC error details) is scanned
 * for the plaintexts (raw, base64, hex), the credentials (raw and base64), and anything shaped like a Vault token.
 */
let bao: RealServer;
const running: PluginProcess[] = [];
before(async () => {
  bao = await RealServer.start();
});
after(async () => {
  await Promise.all(running.map((p) => p.stop()));
  await bao?.close();
});

interface Run {
  readonly p: PluginProcess;
  readonly dir: string;
  readonly served: string[];
}

async function serveWithDebug(auth: string[], first: number): Promise<Run> {
  const dir = tempSocketDir();
  const home = join(dir, 'home');
  mkdirSync(home);
  const socket = join(dir, 'vaultkms.socket');
  const p = new PluginProcess(
    [`-vault-address=${bao.url}`, ...auth, `-socket=unix://${socket}`, '-health-port=127.0.0.1:0', '-health-check-interval=1s', '-token-refresh-interval=1s', '-disable-v1=false', '-debug'],
    { HOME: home },
    dir,
  );
  running.push(p);
  await p.waitForSocket(socket);
  const port = await p.healthPort();
  const client = new KmsTestClient(socket);
  const served: string[] = [];
  try {
    await eventually(() => client.status(), (s) => s.healthz === 'ok', 20_000);
    for (let i = 0; i < 20; i++) {
      const plaintext = markedPlaintext(first + i);
      const enc = await client.encrypt(plaintext, `uid-debug-${first + i}`);
      assert.deepEqual((await client.decrypt(enc.ciphertext, enc.key_id)).plaintext, plaintext);
      const v1 = await client.v1Encrypt(markedPlaintext(first + 100 + i));
      assert.deepEqual((await client.v1Decrypt(v1.cipher)).plain, markedPlaintext(first + 100 + i));
      if (i % 5 === 0) {
        // Failures log at warn with their reason: a plaintext too large, a ciphertext Vault cannot open.
        await assert.rejects(client.encrypt(Buffer.concat([plaintext, Buffer.alloc(64 * 1024)]), 'uid-too-large'), (e: { code: number; details: string }) => {
          served.push(e.details);
          return e.code !== status.OK;
        });
        const forged = Buffer.from(`vault:v1:${Buffer.alloc(60, i).toString('base64')}`);
        await assert.rejects(client.decrypt(forged, enc.key_id), (e: { code: number; details: string }) => {
          served.push(e.details);
          return e.code !== status.OK;
        });
      }
      if (i % 4 === 0) {
        for (const path of ['/metrics', '/health?verbose', '/live']) served.push(await (await fetch(`http://127.0.0.1:${port}${path}`)).text());
      }
      await sleep(300); // the run spans token checks, renewals and (AppRole) logins
    }
    p.signal('SIGHUP');
    await p.waitForLog((l) => typeof l.message === 'string' && l.message.startsWith('SIGHUP'));
    served.push(await (await fetch(`http://127.0.0.1:${port}/metrics`)).text());
  } finally {
    client.close();
  }
  assert.equal(await p.stop(), 0);
  return { p, dir, served };
}

/** Every regular file below dir (the socket is gone after a clean stop; anything else was written by the plugin). */
function filesBelow(dir: string): { path: string; text: string }[] {
  return readdirSync(dir, { recursive: true, encoding: 'utf8' })
    .map((rel) => join(dir, rel))
    .filter((path) => lstatSync(path).isFile())
    .map((path) => ({ path, text: readFileSync(path, 'latin1') }));
}

function leaks(text: string, needles: Map<string, string>): string[] {
  const found = [...needles].filter(([needle]) => text.includes(needle)).map(([, what]) => what);
  const token = /\b(hvs|hvb|s)\.[A-Za-z0-9]{20,}/.exec(text);
  if (token) found.push(`a token-shaped value near "${text.slice(Math.max(0, token.index - 60), token.index)}"`);
  return found;
}

describe('-debug on real OpenBao: no plaintext, token or secret ID in anything the plugin wrote or served', { timeout: 300_000 }, () => {
  it('token auth and AppRole auth, KMS v2 and v1, with renewals, re-logins, failures and SIGHUP', async () => {
    await bao.mustOk('POST', 'auth/approle/role/debugscan', { token_policies: ['kms'], token_ttl: '3s', token_max_ttl: '6s' });
    const roleId = (await bao.mustOk('GET', 'auth/approle/role/debugscan/role-id')).json.data.role_id as string;
    const secretId = (await bao.mustOk('POST', 'auth/approle/role/debugscan/secret-id', {})).json.data.secret_id as string;
    captureSecret(secretId);
    const token = (await bao.createToken({ policies: ['kms'], no_default_policy: true, ttl: '1h' })).token;

    const runs = [
      await serveWithDebug(['-auth-method=token', `-token=${token}`], 800_000),
      await serveWithDebug(['-auth-method=approle', `-approle-role-id=${roleId}`, `-approle-secret-id=${secretId}`], 900_000),
    ];

    // The marker found inside anything longer, in any of base64's three alignments; each plaintext whole.
    const needles = new Map<string, string>([[PLAINTEXT_MARKER, 'the plaintext marker'], [Buffer.from(PLAINTEXT_MARKER).toString('hex'), 'the plaintext marker in hex']]);
    for (const pad of ['', 'x', 'xx']) needles.set(Buffer.from(pad + PLAINTEXT_MARKER).toString('base64').slice(4, 20), `the plaintext marker in base64 (offset ${pad.length})`);
    for (const first of [800_000, 900_000]) {
      for (let i = 0; i < 20; i++) {
        for (const n of [first + i, first + 100 + i]) {
          needles.set(markedPlaintext(n).toString('base64'), `plaintext ${n} in base64`);
          needles.set(markedPlaintext(n).toString('hex'), `plaintext ${n} in hex`);
        }
      }
    }
    for (const [name, secret] of [['the token', token], ['the secret ID', secretId]]) {
      needles.set(secret, name);
      needles.set(Buffer.from(secret).toString('base64').slice(0, 20), `${name} in base64`);
    }

    const findings: string[] = [];
    let lines = 0;
    for (const [i, run] of runs.entries()) {
      const debugLines = run.p.logs().filter((l) => l.level === 'debug');
      assert.ok(debugLines.length >= 40, `plugin ${i} logged at debug level (${debugLines.length} lines)`);
      lines += run.p.stdout.length + run.p.stderr.length;
      for (const [where, text] of [['stdout', run.p.stdout.join('\n')], ['stderr', run.p.stderr.join('\n')], ['served', run.served.join('\n')]] as const) {
        for (const f of leaks(text, needles)) findings.push(`plugin ${i} ${where}: ${f}`);
      }
      for (const file of filesBelow(run.dir)) for (const f of leaks(file.text, needles)) findings.push(`plugin ${i} wrote ${file.path}: ${f}`);
    }
    const relogins = runs[1].p.logs().filter((l) => l.message === 'authenticated to Vault').length;
    assert.ok(relogins >= 2, `the AppRole plugin logged in again during the run (${relogins} logins)`);
    assert.ok(lines > 200, `${lines} lines scanned`);
    assert.deepEqual(findings, []);
  });
});
