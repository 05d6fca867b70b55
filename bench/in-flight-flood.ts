/**
 * The in-flight memory bound under a flood of oversized requests (issue 22 item 11): N concurrent Decrypts of
 * about 92 KB (the largest ciphertext the plugin accepts is 96 KiB) over several connections, while Vault hangs
 * every Transit decrypt, so nothing the plugin accepts can finish before its deadline. Reports the plugin's peak RSS
 * (VmHWM), the answer codes and how soon the first refusal came.
 *
 *   npm run build && node dist/bench/in-flight-flood.js                                  # the built CLI
 *   node dist/bench/in-flight-flood.js --bin dist/artifact/vault-kubernetes-kms           # the packaged artifact
 *   node dist/bench/in-flight-flood.js --bin .tools/bin/vault-kubernetes-kms-go --go      # the Go plugin v1.4.0
 *   options: --calls 2000 --conns 8 --runs 3 --deadline-ms 6000
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { Metadata, credentials, makeGenericClientConstructor, status, type Client, type ServiceError } from '@grpc/grpc-js';
import { KMS_V2_SERVICE } from '../src/adapters/grpc/kms-messages';
import { PluginProcess, eventually, tempSocketDir } from '../test/support/plugin-process';
import { ProxiedServer } from '../test/support/fault-proxy';

const { values: opts } = parseArgs({
  options: {
    bin: { type: 'string' },
    go: { type: 'boolean', default: false },
    calls: { type: 'string', default: '2000' },
    conns: { type: 'string', default: '8' },
    runs: { type: 'string', default: '3' },
    'deadline-ms': { type: 'string', default: '6000' },
  },
});
const CALLS = Number(opts.calls);
const CONNS = Number(opts.conns);
const DEADLINE_MS = Number(opts['deadline-ms']);

type Unary = (req: unknown, md: Metadata, o: { deadline: number }, cb: (e: ServiceError | null, r: unknown) => void) => void;

function statusKiB(pid: number, field: 'VmHWM' | 'VmRSS'): number {
  const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) : 0;
}

interface FloodResult {
  idleMiB: number;
  peakMiB: number;
  codes: Record<string, number>;
  firstRefusalMs: number | null;
  alive: boolean;
}

async function oneRun(): Promise<FloodResult> {
  const vault = await ProxiedServer.start();
  const dir = tempSocketDir();
  const socket = join(dir, 'vaultkms.socket');
  const command = opts.bin ? { cmd: resolve(opts.bin), prefix: [] } : undefined;
  const health = opts.go ? ['-health-port=0'] : ['-health-port=127.0.0.1:0'];
  const p = new PluginProcess([`-vault-address=${vault.url}`, '-auth-method=token', `-token=${vault.kmsToken}`, `-socket=unix://${socket}`, ...health], {}, undefined, command);
  try {
    await p.waitForSocket(socket, 20_000);
    const Ctor = makeGenericClientConstructor(KMS_V2_SERVICE, 'KeyManagementService');
    // One connection per client: a local subchannel pool keeps grpc-js from sharing one between them.
    const clients: Client[] = Array.from({ length: CONNS }, () => new Ctor(`unix:${socket}`, credentials.createInsecure(), { 'grpc.default_authority': 'localhost', 'grpc.use_local_subchannel_pool': 1 }));
    const call = (c: Client, method: string, req: unknown, timeoutMs: number) =>
      new Promise<unknown>((res, rej) => ((c as unknown as Record<string, Unary>)[method].bind(c))(req, new Metadata(), { deadline: Date.now() + timeoutMs }, (e, r) => (e ? rej(e) : res(r))));
    await eventually(() => call(clients[0], 'Status', {}, 2000) as Promise<{ healthz: string }>, (s) => s.healthz === 'ok', 20_000);
    for (const c of clients) await call(c, 'Status', {}, 2000);
    const pid = p.pid as number;
    const idleMiB = statusKiB(pid, 'VmRSS') / 1024;
    vault.addFault({ path: 'transit/decrypt', kind: 'hang' });
    const ciphertext = Buffer.from(`vault:v1:${randomBytes(69_000).toString('base64')}`);
    const codes: Record<string, number> = {};
    const started = Date.now();
    let firstRefusalMs: number | null = null;
    await Promise.all(
      Array.from({ length: CALLS }, (_, i) =>
        call(clients[i % CONNS], 'Decrypt', { ciphertext, key_id: '1', uid: `flood-${i}`, annotations: {} }, DEADLINE_MS).then(
          () => void (codes.OK = (codes.OK ?? 0) + 1),
          (e: ServiceError) => {
            const name = status[e.code] ?? String(e.code);
            codes[name] = (codes[name] ?? 0) + 1;
            if (e.code === status.RESOURCE_EXHAUSTED && firstRefusalMs === null) firstRefusalMs = Date.now() - started;
          },
        ),
      ),
    );
    const peakMiB = statusKiB(pid, 'VmHWM') / 1024;
    clients.forEach((c) => c.close());
    let alive = true;
    try {
      process.kill(pid, 0);
    } catch {
      alive = false;
    }
    return { idleMiB, peakMiB, codes, firstRefusalMs, alive };
  } finally {
    await p.stop();
    await vault.close();
  }
}

async function run(): Promise<void> {
  const target = opts.bin ?? 'node dist/src/main.js';
  console.log(`in-flight flood: ${CALLS} concurrent Decrypts of 92 KB over ${CONNS} connections, Vault hanging, deadline ${DEADLINE_MS} ms; target ${target}`);
  const peaks: number[] = [];
  for (let i = 0; i < Number(opts.runs); i++) {
    const r = await oneRun();
    peaks.push(r.peakMiB);
    console.log(JSON.stringify({ run: i + 1, idle_rss_mib: Math.round(r.idleMiB), peak_rss_mib: Math.round(r.peakMiB), first_refusal_ms: r.firstRefusalMs, codes: r.codes, alive_after: r.alive }));
  }
  peaks.sort((a, b) => a - b);
  console.log(`peak RSS MiB: min ${Math.round(peaks[0])}, median ${Math.round(peaks[Math.floor(peaks.length / 2)])}, max ${Math.round(peaks[peaks.length - 1])}`);
}

run().then(
  () => process.exit(0),
  (e) => {
    console.error(e);
    process.exit(1);
  },
);
