import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { connect } from 'node:net';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { status } from '@grpc/grpc-js';
import { KmsTestClient } from '../support/kms-client';
import { PluginProcess, eventually, tempSocketDir } from '../support/plugin-process';
import { PluginFixture } from '../support/plugin-fixture';
import { RealServer } from '../support/real-server';
import { TcpForwarder } from '../support/tcp-forwarder';

/**
 * What an operator meets first, with the built CLI against real OpenBao: the first Status, error texts,
 * conflicting credential sources, proxy variables, a missing CA file, KMS v1 while disabled, and log lines.
 */
let bao: RealServer;
const plugins = new PluginFixture();

before(async () => {
  bao = await RealServer.start();
});
after(async () => {
  await plugins.stopAll();
  await bao.close();
});

/** A plugin process with a private socket, not waiting for anything. */
function spawnPlugin(args: string[], env: Record<string, string> = {}) {
  const socket = join(tempSocketDir(), 'vaultkms.socket');
  const p = plugins.adopt(new PluginProcess([...args, `-socket=unix://${socket}`, '-health-port=127.0.0.1:0'], env));
  return { p, socket };
}

describe('ready when the socket appears', () => {
  it('answers the first Status truthfully: ok when Vault is fine, never "starting"', async () => {
    await bao.reset();
    const { p, socket } = spawnPlugin([`-vault-address=${bao.url}`, '-auth-method=token', `-token=${bao.kmsToken}`]);
    await p.waitForSocket(socket);
    const client = new KmsTestClient(socket);
    try {
      const first = await client.status(3000);
      assert.equal(first.healthz, 'ok');
      assert.equal(first.key_id, '1');
    } finally {
      client.close();
    }
  });

  it('answers the first Status with the real reason when Vault is down, within the deadline', async () => {
    const port = await TcpForwarder.freePort();
    const { p, socket } = spawnPlugin([`-vault-address=http://127.0.0.1:${port}`, '-auth-method=token', `-token=${bao.kmsToken}`]);
    await p.waitForSocket(socket);
    const client = new KmsTestClient(socket);
    try {
      const first = await client.status(3000);
      assert.doesNotMatch(first.healthz, /starting|not completed/);
      assert.match(first.healthz, /reach|ECONNREFUSED|unavailable/i);
    } finally {
      client.close();
    }
  });
});

describe('error texts name the operation, the path and the likely cause', () => {
  it('a wrong token read through -token-file is reported as a bad token, as through the env var', async () => {
    const file = join(tempSocketDir(), 'token');
    writeFileSync(file, 's.not-a-real-token\n', { mode: 0o600 });
    const { client, p } = await plugins.start([`-vault-address=${bao.url}`, '-auth-method=token', `-token-file=${file}`], { waitHealthy: false });
    await eventually(() => client.status(), (s) => /token is invalid, expired or revoked/.test(s.healthz), 10_000);
    assert.equal(p.stdout.some((l) => /policy|lacks/.test(l)), false);
  });
});

describe('conflicting credential sources are never resolved silently', () => {
  it('-approle-secret-id with -approle-secret-id-file is a configuration error naming both', async () => {
    const file = join(tempSocketDir(), 'secret-id');
    writeFileSync(file, 'x\n');
    const { p } = spawnPlugin([`-vault-address=${bao.url}`, '-auth-method=approle', '-approle-role-id=r', '-approle-secret-id=s', `-approle-secret-id-file=${file}`]);
    assert.equal(await p.exited, 2);
    const err = p.stderr.join('\n');
    assert.match(err, /-approle-secret-id\b/);
    assert.match(err, /-approle-secret-id-file/);
  });

  it('-token with -token-file is a configuration error naming both', async () => {
    const file = join(tempSocketDir(), 'token');
    writeFileSync(file, 'x\n');
    const { p } = spawnPlugin([`-vault-address=${bao.url}`, '-auth-method=token', '-token=abc', `-token-file=${file}`]);
    assert.equal(await p.exited, 2);
    assert.match(p.stderr.join('\n'), /-token\b.*-token-file|-token-file.*-token\b/s);
  });

  it('VAULT_TOKEN left in the environment beside -token-file: says once which one is used', async () => {
    await bao.reset();
    const file = join(tempSocketDir(), 'token');
    writeFileSync(file, `${bao.kmsToken}\n`, { mode: 0o600 });
    const { p } = await plugins.start([`-vault-address=${bao.url}`, '-auth-method=token', `-token-file=${file}`], { env: { VAULT_TOKEN: 'stale-token-from-the-shell' } });
    const line = await p.waitForLog((l) => /VAULT_TOKEN/.test(String(l.message)) && /token-file/.test(JSON.stringify(l)));
    assert.ok(line);
    assert.equal(p.logs().filter((l) => /VAULT_TOKEN/.test(String(l.message))).length, 1);
  });
});

describe('proxy variables, as Vault\'s Go client honours them', () => {
  let proxy: Server;
  let proxyPort: number;
  let proxied = 0;
  before(async () => {
    // A forward proxy that knows the name vault.test (nothing else on this machine resolves it).
    proxy = createServer((req, res) => {
      proxied++;
      const url = new URL(req.url ?? '/');
      const target = url.hostname === 'vault.test' ? new URL(bao.url) : undefined;
      if (!target) {
        res.writeHead(502).end();
        return;
      }
      const upstream = connect(Number(target.port), '127.0.0.1', () => {
        const headers = Object.entries(req.headers).map(([k, v]) => `${k}: ${Array.isArray(v) ? v.join(', ') : v}`).join('\r\n');
        upstream.write(`${req.method} ${url.pathname}${url.search} HTTP/1.1\r\n${headers}\r\nconnection: close\r\n\r\n`);
        req.pipe(upstream);
        upstream.pipe(res.socket!);
      });
      upstream.on('error', () => res.destroy());
    });
    // CONNECT tunnels too (undici tunnels every proxied request, http:// targets included).
    proxy.on('connect', (req, client, head) => {
      proxied++;
      tunnels.add(client as import('node:net').Socket);
      const [host] = (req.url ?? '').split(':');
      if (host !== 'vault.test') {
        client.end('HTTP/1.1 502 Bad Gateway\r\n\r\n');
        return;
      }
      const upstream = connect(Number(new URL(bao.url).port), '127.0.0.1', () => {
        client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
        upstream.write(head);
        upstream.pipe(client);
        client.pipe(upstream);
      });
      upstream.on('error', () => client.destroy());
      client.on('error', () => upstream.destroy());
    });
    await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', () => r()));
    proxyPort = (proxy.address() as { port: number }).port;
  });
  const tunnels = new Set<import('node:net').Socket>();
  after(async () => {
    // The plugins still hold keep-alive connections and tunnels: cut them, or close() waits for them.
    for (const t of tunnels) t.destroy();
    proxy.closeAllConnections();
    await new Promise<void>((r) => proxy.close(() => r()));
  });

  it('reaches Vault through HTTP_PROXY', async () => {
    await bao.reset();
    proxied = 0;
    const { client } = await plugins.start(['-vault-address=http://vault.test:8200', '-auth-method=token', `-token=${bao.kmsToken}`], {
      env: { HTTP_PROXY: `http://127.0.0.1:${proxyPort}` },
    });
    const enc = await client.encrypt(Buffer.alloc(32, 4));
    assert.deepEqual((await client.decrypt(enc.ciphertext)).plaintext, Buffer.alloc(32, 4));
    assert.ok(proxied > 0);
  });

  it('goes direct for hosts in NO_PROXY', async () => {
    proxied = 0;
    const { client } = await plugins.start(['-vault-address=http://vault.test:8200', '-auth-method=token', `-token=${bao.kmsToken}`], {
      env: { HTTP_PROXY: `http://127.0.0.1:${proxyPort}`, NO_PROXY: 'vault.test' },
      waitHealthy: false,
    });
    await eventually(() => client.status(), (s) => /ENOTFOUND|EAI_AGAIN|resolve|reach/i.test(s.healthz), 10_000);
    assert.equal(proxied, 0);
  });
});

describe('a missing CA file is a configuration error', () => {
  for (const [how, args, env] of [
    ['VAULT_CACERT', [], { VAULT_CACERT: '/nonexistent/ca.crt' }],
    ['-vault-ca-cert', ['-vault-ca-cert=/nonexistent/ca.crt'], {}],
  ] as const) {
    it(`exits 2 naming the option and its env vars (${how})`, async () => {
      const { p } = spawnPlugin(['-vault-address=https://127.0.0.1:1', '-auth-method=token', '-token=abc', ...args], env);
      assert.equal(await p.exited, 2);
      const err = p.stderr.join('\n');
      assert.match(err, /-vault-ca-cert/);
      assert.match(err, /VAULT_CACERT/);
      assert.match(err, /\/nonexistent\/ca\.crt/);
      assert.doesNotMatch(err, /fatal|ENOENT:/);
    });
  }
});

describe('KMS v1 while v1 is disabled', () => {
  it('answers UNIMPLEMENTED naming -disable-v1=false, and logs the hint once', async () => {
    await bao.reset();
    const { client, p } = await plugins.start([`-vault-address=${bao.url}`, '-auth-method=token', `-token=${bao.kmsToken}`]);
    for (let i = 0; i < 5; i++) {
      await assert.rejects(client.v1Encrypt(Buffer.alloc(32)), (e: { code: number; details: string }) => e.code === status.UNIMPLEMENTED && /-disable-v1=false/.test(e.details));
    }
    await p.waitForLog((l) => /-disable-v1=false/.test(JSON.stringify(l)));
    assert.equal(p.logs().filter((l) => /-disable-v1=false/.test(JSON.stringify(l))).length, 1, 'rate-limited');
  });
});

describe('log format of durations and the socket URL', () => {
  it('logs durations rounded, and the socket as an absolute unix:/// URL', async () => {
    await bao.reset();
    const dir = tempSocketDir();
    const p = plugins.adopt(
      new PluginProcess([`-vault-address=${bao.url}`, '-auth-method=token', `-token=${bao.kmsToken}`, '-socket=unix://vaultkms.socket', '-health-port=127.0.0.1:0', '-debug'], {}, dir),
    );
    const socket = join(dir, 'vaultkms.socket');
    await p.waitForSocket(socket);
    const client = new KmsTestClient(socket);
    try {
      await eventually(() => client.status(), (s) => s.healthz === 'ok', 10_000);
      await client.encrypt(Buffer.alloc(32));
      const text = p.stdout.join('\n');
      assert.match(text, new RegExp(`unix://${socket.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`));
      assert.doesNotMatch(text, /"unix:\/\/vaultkms\.socket"/);
      assert.doesNotMatch(text, /\d+\.\d{4,}/, 'no float noise like 13.354365999999999');
    } finally {
      client.close();
    }
  });
});
