import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { captureOutput } from '../support/leak-capture';
import { RealServer } from '../support/real-server';
import { PluginProcess, REPO_ROOT, pluginCommand, tempSocketDir } from '../support/plugin-process';

/**
 * `vault-kubernetes-kms client`, the built CLI (or the artifact) talking to
 * the running plugin on real OpenBao over its real socket, as an operator
 * would on a node; and its errors when the socket is missing, dead or hung.
 */
interface Result {
  code: number | null;
  stdout: Buffer;
  stderr: string;
}

/** Runs the CLI with stdin; its stdout is the plaintext an operator asked for, so only stderr goes to the leak scan. */
function cli(args: string[], stdin?: Buffer, env: Record<string, string> = {}): Promise<Result> {
  const { cmd, prefix } = pluginCommand();
  const child = spawn(cmd, [...prefix, ...args], { cwd: REPO_ROOT, env: { PATH: process.env.PATH, ...env }, stdio: ['pipe', 'pipe', 'pipe'] });
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  child.stdout.on('data', (c: Buffer) => out.push(c));
  child.stderr.on('data', (c: Buffer) => err.push(c));
  child.stdin.end(stdin ?? Buffer.alloc(0));
  return new Promise((resolve) =>
    child.once('close', (code) => {
      const stderr = Buffer.concat(err).toString('utf8');
      if (stderr) captureOutput('client-stderr', stderr);
      resolve({ code, stdout: Buffer.concat(out), stderr });
    }),
  );
}

let bao: RealServer;
let dir: string;
let socket: string;
let plugin: PluginProcess;

before(async () => {
  bao = await RealServer.start();
  dir = tempSocketDir();
  socket = join(dir, 'kms.socket');
  plugin = new PluginProcess(
    [`-vault-address=${bao.url}`, '-auth-method=token', `-socket=unix://${socket}`, '-health-port=127.0.0.1:0', '-disable-v1=false'],
    { VAULT_KMS_VAULT_TOKEN: bao.kmsToken },
  );
  await plugin.waitForSocket(socket);
  await plugin.waitForLog((l) => l.message === 'health endpoints listening');
});
after(async () => {
  await plugin.stop();
  await bao.close();
  rmSync(dir, { recursive: true, force: true });
});

const S = () => `-socket=unix://${socket}`;

describe('client against the running plugin', () => {
  it('status prints version, healthz and key_id (text and JSON)', async () => {
    let r = await cli(['client', 'status', S()]);
    for (let i = 0; i < 50 && !r.stdout.toString().includes('healthz: ok'); i++) {
      await new Promise((res) => setTimeout(res, 200));
      r = await cli(['client', 'status', S()]);
    }
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.toString(), 'version: v2\nhealthz: ok\nkey_id: 1\n');
    r = await cli(['client', 'status', '-socket', `unix://${socket}`, '-output', 'json']);
    assert.deepEqual(JSON.parse(r.stdout.toString()), { api: 'v2', version: 'v2', healthz: 'ok', key_id: '1' });
  });

  it('takes -socket from VAULT_KMS_SOCKET like the plugin', async () => {
    const r = await cli(['client', 'status'], undefined, { VAULT_KMS_SOCKET: `unix://${socket}` });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout.toString(), /^version: v2\n/);
  });

  it('encrypt (argument) and decrypt round-trip, text output', async () => {
    const enc = await cli(['client', 'encrypt', S(), 'hello from the node']);
    assert.equal(enc.code, 0, enc.stderr);
    const m = /^ciphertext: (\S+)\nkey_id: (\S+)\nannotations: \(none\)\n$/.exec(enc.stdout.toString());
    assert.ok(m, enc.stdout.toString());
    assert.match(Buffer.from(m[1], 'base64').toString(), /^vault:v1:/, 'the ciphertext is the Vault ciphertext, as the Go plugin sends it');
    assert.equal(m[2], '1');
    const dec = await cli(['client', 'decrypt', S(), '-key-id', m[2], m[1]]);
    assert.equal(dec.code, 0, dec.stderr);
    assert.equal(dec.stdout.toString(), 'hello from the node');
  });

  it('encrypt reads binary plaintext from stdin; decrypt gives back the same bytes, JSON output', async () => {
    const plaintext = randomBytes(300);
    const enc = await cli(['client', 'encrypt', S(), '-output=json'], plaintext);
    assert.equal(enc.code, 0, enc.stderr);
    const e = JSON.parse(enc.stdout.toString());
    assert.deepEqual(Object.keys(e).sort(), ['annotations', 'api', 'ciphertext', 'key_id']);
    const dec = await cli(['client', 'decrypt', S(), `-key-id=${e.key_id}`, '-output=json'], Buffer.from(e.ciphertext));
    assert.equal(dec.code, 0, dec.stderr);
    assert.deepEqual(Buffer.from(JSON.parse(dec.stdout.toString()).plaintext_base64, 'base64'), plaintext);
  });

  it('speaks KMS v1beta1 with -api v1', async () => {
    const v = await cli(['client', 'status', S(), '-api', 'v1']);
    assert.equal(v.code, 0, v.stderr);
    assert.match(v.stdout.toString(), /^version: v1beta1\nruntime_name: vault\nruntime_version: \d+\.\d+\.\d+/);
    const enc = await cli(['client', 'encrypt', S(), '-api=v1', '-output=json', 'v1 data']);
    assert.equal(enc.code, 0, enc.stderr);
    const dec = await cli(['client', 'decrypt', S(), '-api=v1', JSON.parse(enc.stdout.toString()).ciphertext]);
    assert.equal(dec.stdout.toString(), 'v1 data');
  });

  it('passes on the plugin\'s gRPC error for a ciphertext Vault cannot decrypt', async () => {
    const r = await cli(['client', 'decrypt', S(), '-key-id=1', Buffer.from('vault:v1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA').toString('base64')]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^vault-kubernetes-kms client: Decrypt failed: INVALID_ARGUMENT: /);
  });
});

describe('client errors', () => {
  it('names a missing socket', async () => {
    const r = await cli(['client', 'status', `-socket=unix://${join(dir, 'absent.socket')}`]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /no socket at .*absent\.socket: is the plugin running/);
  });

  it('names a socket nobody listens on (left by a killed plugin)', async () => {
    const stale = join(dir, 'stale.socket');
    const holder = spawn(process.execPath, ['-e', `require('net').createServer().listen(${JSON.stringify(stale)}, () => console.log('up'))`], { stdio: ['ignore', 'pipe', 'inherit'] });
    await new Promise((res) => holder.stdout.once('data', res));
    holder.kill('SIGKILL');
    await new Promise((res) => holder.once('exit', res));
    const r = await cli(['client', 'status', `-socket=unix://${stale}`]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /nothing is listening on .*stale\.socket/);
  });

  it('gives up at -timeout when the socket accepts but never answers', async () => {
    const hung = join(dir, 'hung.socket');
    const held: Socket[] = [];
    const server: Server = createServer((s) => held.push(s));
    await new Promise<void>((res) => server.listen(hung, res));
    try {
      const r = await cli(['client', 'status', `-socket=unix://${hung}`, '-timeout=300ms']);
      assert.equal(r.code, 1);
      assert.match(r.stderr, /no answer within 300 ms \(-timeout\)/);
    } finally {
      for (const s of held) s.destroy();
      await new Promise((res) => server.close(res));
    }
  });

  it('names KMS v1 disabled in the plugin', async () => {
    const devDir = tempSocketDir();
    const devSocket = join(devDir, 'kms.socket');
    const dev = new PluginProcess(['-dev', `-socket=unix://${devSocket}`, '-health-port=127.0.0.1:0']);
    try {
      await dev.waitForSocket(devSocket);
      const r = await cli(['client', 'status', '-api=v1', `-socket=unix://${devSocket}`]);
      assert.equal(r.code, 1);
      assert.match(r.stderr, /Version failed: UNIMPLEMENTED: .*-disable-v1=false/);
    } finally {
      await dev.stop();
      rmSync(devDir, { recursive: true, force: true });
    }
  });

  for (const [name, args, pattern] of [
    ['no command', ['client'], /Usage: vault-kubernetes-kms client/],
    ['an unknown command', ['client', 'rotate'], /unknown command "rotate"/],
    ['an unknown option', ['client', 'status', '-sockett=x'], /unknown option -sockett/],
    ['a bad -api', ['client', 'status', '-api=v3'], /-api must be v2 or v1/],
    ['a bad -timeout', ['client', 'status', '-timeout=soon'], /-timeout "soon" is not a positive duration/],
    ['decrypt v2 without -key-id', ['client', 'decrypt', 'AAAA'], /needs -key-id/],
    ['a ciphertext that is not base64', ['client', 'decrypt', '-key-id=1', '%%%'], /must be base64/],
  ] as const) {
    it(`exits 2 for ${name}`, async () => {
      const r = await cli([...args, ...(args.length > 1 && !(args as readonly string[]).includes('-socket') ? [S()] : [])]);
      assert.equal(r.code, 2, r.stderr);
      assert.match(r.stderr, pattern);
    });
  }
});
