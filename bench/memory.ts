/**
 * `npm run bench:memory` = node dist/bench/memory.js [--bin PATH] [--idle-seconds N]
 *
 * The memory figures of docs/setup.md and the manifests' requests and limits:
 * the plugin (the packaged artifact by default, dist/artifact/vault-kubernetes-kms)
 * with token auth against a real OpenBao dev server, read from /proc/<pid>/status:
 *   - idle: VmRSS after start-up, the first login and health checks, and --idle-seconds (60) without traffic;
 *   - storm: VmHWM after 5 rounds of 2,000 concurrent KMS v2 Decrypts of real ciphertexts (what
 *     kube-apiserver sends when it starts and reads every Secret);
 *   - flood: VmHWM after 2,000 concurrent Decrypts of 92 KB each (an oversized, hostile load).
 * Prints one JSON object.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { RealServer } from '../test/support/real-server';
import { KmsTestClient } from '../test/support/kms-client';
import { PluginProcess, REPO_ROOT } from '../test/support/plugin-process';

function memoryMiB(pid: number): { rss: number; hwm: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+)`, 'm').exec(status)?.[1] ?? NaN);
  return { rss: round(kb('VmRSS') / 1024), hwm: round(kb('VmHWM') / 1024) };
}

const round = (n: number) => Math.round(n * 10) / 10;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const value = (name: string) => {
    const i = args.indexOf(name);
    return i >= 0 ? args[i + 1] : undefined;
  };
  const bin = value('--bin') ?? join(REPO_ROOT, 'dist/artifact/vault-kubernetes-kms');
  const idleSeconds = Number(value('--idle-seconds') ?? 60);
  const bao = await RealServer.start();
  const dir = mkdtempSync(join(tmpdir(), 'kms-memory-'));
  const socket = join(dir, 'kms.socket');
  const plugin = new PluginProcess(
    [`-vault-address=${bao.url}`, '-auth-method=token', `-socket=unix://${socket}`, '-health-port=127.0.0.1:0'],
    { VAULT_KMS_VAULT_TOKEN: bao.kmsToken },
    REPO_ROOT,
    bin.endsWith('.js') ? { cmd: process.execPath, prefix: [bin] } : { cmd: bin, prefix: [] },
  );
  const client = new KmsTestClient(socket, { timeoutMs: 30_000 });
  try {
    await plugin.waitForSocket(socket, 30_000);
    for (let i = 0; (await client.status()).healthz !== 'ok'; i++) {
      if (i > 100) throw new Error('the plugin did not become healthy');
      await sleep(200);
    }
    await sleep(idleSeconds * 1000);
    const pid = plugin.pid as number;
    const idle = memoryMiB(pid);

    const sealed = await Promise.all(Array.from({ length: 20 }, () => client.encrypt(randomBytes(32))));
    for (let round = 0; round < 5; round++) {
      await Promise.all(Array.from({ length: 2000 }, (_, i) => client.decrypt(sealed[i % sealed.length].ciphertext, sealed[0].key_id).catch(() => undefined)));
    }
    const storm = memoryMiB(pid);

    const big = randomBytes(92 * 1024);
    let refused = 0;
    await Promise.all(Array.from({ length: 2000 }, () => client.decrypt(big, sealed[0].key_id).catch(() => refused++)));
    const flood = memoryMiB(pid);
    await sleep(5000);
    const after = memoryMiB(pid);
    process.stdout.write(
      JSON.stringify({ bin, node: bin.endsWith('.js') ? process.version : 'embedded', idleSeconds, idleRssMiB: idle.rss, stormPeakMiB: storm.hwm, floodPeakMiB: flood.hwm, floodRefused: refused, rssAfterMiB: after.rss }) + '\n',
    );
  } finally {
    client.close();
    await plugin.stop();
    await bao.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

main().then(
  () => process.exit(0),
  (e) => {
    process.stderr.write(`bench:memory: ${(e as Error).message}\n`);
    process.exit(1);
  },
);
