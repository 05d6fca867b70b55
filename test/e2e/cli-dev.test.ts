import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, lstatSync, mkdirSync, readFileSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { status } from '@grpc/grpc-js';
import { KmsTestClient } from '../support/kms-client';
import { PluginProcess, eventually, tempSocketDir } from '../support/plugin-process';

/** The built CLI in -dev mode (in-process transit), driven over its real socket. */
async function startDev(extra: string[] = []) {
  const dir = tempSocketDir();
  const socket = join(dir, 'vaultkms.socket');
  const p = started(['-dev', `-socket=unix://${socket}`, '-health-port=127.0.0.1:0', ...extra]);
  await p.waitForSocket(socket);
  return { p, socket, dir };
}

/** Every process this file starts, stopped after it whatever the tests did. */
const running: PluginProcess[] = [];
after(async () => {
  await Promise.all(running.map((p) => p.stop()));
});
function started(args: string[], env: Record<string, string> = {}): PluginProcess {
  const p = new PluginProcess(args, env);
  running.push(p);
  return p;
}

describe('CLI in dev mode over the real socket', () => {
  it('round-trips KMS v2 Encrypt/Decrypt and reports Status ok with key_id 1', async () => {
    const { socket } = await startDev();
    const c = new KmsTestClient(socket);
    const s = await eventually(() => c.status(), (x) => x.healthz === 'ok');
    assert.deepEqual(s, { version: 'v2', healthz: 'ok', key_id: '1' });
    const seed = Buffer.alloc(32, 3);
    const enc = await c.encrypt(seed);
    assert.equal(enc.key_id, '1');
    assert.match(enc.ciphertext.toString(), /^vault:v1:[A-Za-z0-9+/]+=*$/);
    assert.ok(enc.ciphertext.length <= 1024, 'kube-apiserver rejects ciphertexts over 1 kB');
    assert.deepEqual((await c.decrypt(enc.ciphertext, enc.key_id)).plaintext, seed);
    c.close();
  });

  it('accepts both :authority forms kube-apiserver sends', async () => {
    const { socket } = await startDev();
    for (const authority of ['localhost', encodeURIComponent(socket)]) {
      const c = new KmsTestClient(socket, { authority });
      const enc = await c.encrypt(Buffer.alloc(32, 1));
      assert.equal(enc.key_id, '1', authority);
      c.close();
    }
  });

  it('answers UNIMPLEMENTED for KMS v1 unless -disable-v1=false, then serves it', async () => {
    const off = await startDev();
    const c1 = new KmsTestClient(off.socket);
    await assert.rejects(c1.v1Version(), (e: { code: number }) => e.code === status.UNIMPLEMENTED);
    c1.close();
    const on = await startDev(['-disable-v1=false']);
    const c2 = new KmsTestClient(on.socket);
    const v = await c2.v1Version();
    assert.equal(v.version, 'v1beta1');
    assert.equal(v.runtime_name, 'vault');
    await eventually(() => c2.status(), (x) => x.healthz === 'ok');
    const enc = await c2.v1Encrypt(Buffer.alloc(32, 5));
    assert.deepEqual((await c2.v1Decrypt(enc.cipher)).plain, Buffer.alloc(32, 5));
    c2.close();
  });

  it('answers garbage with INVALID_ARGUMENT and stays up', async () => {
    const { socket } = await startDev();
    const c = new KmsTestClient(socket);
    for (const garbage of [Buffer.from('garbage'), Buffer.alloc(0), Buffer.from([0xff, 0xfe, 0x00]), Buffer.from('vault:v1:' + 'A'.repeat(60))]) {
      await assert.rejects(c.decrypt(garbage), (e: { code: number }) => e.code === status.INVALID_ARGUMENT);
    }
    await assert.rejects(c.encrypt(Buffer.alloc(0)), (e: { code: number }) => e.code === status.INVALID_ARGUMENT);
    assert.equal((await c.status()).version, 'v2');
    c.close();
  });

  it('creates the socket 0600 in a directory it creates, and removes it on SIGTERM with exit 0', async () => {
    const dir = tempSocketDir();
    const socket = join(dir, 'nested', 'dir', 'vaultkms.socket');
    const p = started(['-dev', `-socket=unix://${socket}`, '-health-port=127.0.0.1:0']);
    await p.waitForSocket(socket);
    assert.ok(lstatSync(socket).isSocket());
    assert.equal(statSync(socket).mode & 0o777, 0o600);
    p.signal('SIGTERM');
    assert.equal(await p.exitCode(), 0);
    assert.equal(existsSync(socket), false);
  });

  it('replaces a stale socket left by a crash, with a log line', async () => {
    const first = await startDev();
    first.p.signal('SIGKILL');
    await first.p.exitCode();
    assert.ok(existsSync(first.socket), 'SIGKILL leaves the socket behind');
    const second = started(['-dev', `-socket=unix://${first.socket}`, '-health-port=127.0.0.1:0']);
    await second.waitForLog((l) => l.message === 'removed stale socket left by a previous run');
    const c = new KmsTestClient(first.socket);
    await eventually(() => c.status(), (x) => x.healthz === 'ok');
    c.close();
  });

  it('refuses to start while another instance listens on the socket', async () => {
    const first = await startDev();
    const second = started(['-dev', `-socket=unix://${first.socket}`, '-health-port=127.0.0.1:0']);
    assert.equal(await second.exitCode(), 1);
    assert.match(second.stdout.join('\n'), /another process is listening/);
    const c = new KmsTestClient(first.socket);
    assert.equal((await c.status()).version, 'v2');
    c.close();
  });

  it('never deletes a regular file or a symlink at the socket path without -force-socket-overwrite', async () => {
    const dir = tempSocketDir();
    const file = join(dir, 'vaultkms.socket');
    writeFileSync(file, 'precious');
    const p = started(['-dev', `-socket=unix://${file}`, '-health-port=127.0.0.1:0']);
    assert.equal(await p.exitCode(), 1);
    assert.equal(readFileSync(file, 'utf8'), 'precious');
    assert.match(p.stdout.join('\n'), /-force-socket-overwrite/);

    const target = join(dir, 'target');
    writeFileSync(target, 'also precious');
    const link = join(dir, 'link.socket');
    symlinkSync(target, link);
    const p2 = started(['-dev', `-socket=unix://${link}`, '-health-port=127.0.0.1:0']);
    assert.equal(await p2.exitCode(), 1);
    assert.ok(lstatSync(link).isSymbolicLink());
    assert.equal(readFileSync(target, 'utf8'), 'also precious');

    mkdirSync(join(dir, 'adir'));
    const p3 = started(['-dev', `-socket=unix://${join(dir, 'adir')}`, '-health-port=127.0.0.1:0']);
    assert.equal(await p3.exitCode(), 1);
    assert.ok(statSync(join(dir, 'adir')).isDirectory());
  });

  it('replaces a regular file with -force-socket-overwrite, as documented', async () => {
    const dir = tempSocketDir();
    const file = join(dir, 'vaultkms.socket');
    writeFileSync(file, 'x');
    const p = started(['-dev', `-socket=unix://${file}`, '-health-port=127.0.0.1:0', '-force-socket-overwrite']);
    await eventually(async () => lstatSync(file).isSocket(), (v) => v);
  });

  it('serves /live and /health without calling the backend', async () => {
    const { p } = await startDev();
    const port = await p.healthPort();
    const live = await fetch(`http://127.0.0.1:${port}/live`);
    assert.equal(live.status, 200);
    const health = await eventually(() => fetch(`http://127.0.0.1:${port}/health`), (r) => r.status === 200);
    assert.equal(await health.text(), 'ok\n');
    assert.equal((await fetch(`http://127.0.0.1:${port}/nope`)).status, 404);
  });
});

describe('CLI configuration errors', () => {
  const cases: [string, string[], Record<string, string>, RegExp][] = [
    ['missing Vault address', ['-auth-method=token', '-token=x'], {}, /-vault-address \(VAULT_KMS_VAULT_ADDR/],
    ['unknown auth method', ['-vault-address=https://v', '-auth-method=magic'], {}, /-auth-method \(VAULT_KMS_AUTH_METHOD\)/],
    ['approle without ids', ['-vault-address=https://v', '-auth-method=approle'], {}, /-approle-role-id \(VAULT_KMS_APPROLE_ROLE_ID\)/],
    ['zero refresh interval', ['-vault-address=https://v', '-auth-method=token', '-token=x', '-token-refresh-interval=0'], {}, /-token-refresh-interval/],
    ['malformed socket URL', ['-vault-address=https://v', '-auth-method=token', '-token=x', '-socket=/tmp/x.sock'], {}, /-socket \(VAULT_KMS_SOCKET\)/],
    ['both versions disabled', ['-vault-address=https://v', '-auth-method=token', '-token=x', '-disable-v1', '-disable-v2'], {}, /at least one KMS API version/],
    ['bad env boolean', ['-dev'], { VAULT_KMS_DEBUG: 'yes' }, /VAULT_KMS_DEBUG/],
  ];
  for (const [name, argv, env, pattern] of cases) {
    it(`exits non-zero before touching the socket: ${name}`, async () => {
      const dir = tempSocketDir();
      const socket = join(dir, 'never.socket');
      const p = started([...argv, ...(argv.some((a) => a.startsWith('-socket')) ? [] : [`-socket=unix://${socket}`])], env);
      const code = await p.exitCode();
      assert.notEqual(code, 0);
      assert.match(p.stderr.join('\n'), pattern);
      assert.equal(p.stderr.filter((l) => l.trim() !== '').length <= 2, true, 'one line naming the option, one hint');
      assert.equal(existsSync(socket), false);
    });
  }

  it('-version prints the version and exits 0', async () => {
    const p = started(['-version']);
    assert.equal(await p.exitCode(), 0);
    assert.match(p.stdout.join(''), /^vault-kubernetes-kms v\d+\.\d+\.\d+/);
  });

  it('--help lists the flags and exits 0', async () => {
    const p = started(['--help']);
    assert.equal(await p.exitCode(), 0);
    assert.match(p.stdout.join('\n'), /-vault-address/);
    assert.match(p.stdout.join('\n'), /VAULT_KMS_VAULT_TOKEN/);
  });
});
