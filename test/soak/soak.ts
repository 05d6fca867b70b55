import { randomBytes, randomInt } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { status } from '@grpc/grpc-js';
import { ProxiedServer } from '../support/fault-proxy';
import { KmsTestClient } from '../support/kms-client';
import { PluginProcess, eventually, sleep, tempSocketDir } from '../support/plugin-process';

/**
 * Soak: mixed KMS v1/v2 traffic against the built plugin while faults are
 * injected into Vault at random. Invariants:
 *  - every ciphertext the plugin returned decrypts to its plaintext at the end;
 *  - every request is answered (success or an error code), none lost;
 *  - outside a fault window (plus a grace period) no request fails, and inside
 *    one only UNAVAILABLE or DEADLINE_EXCEEDED are acceptable;
 *  - the process never exits; RSS at the end is reported against the start.
 * `npm run soak` runs 10 minutes; test/soak/soak-short.test.ts runs it briefly in CI.
 */
export interface SoakReport {
  durationMs: number;
  requests: number;
  succeeded: number;
  failedDuringFaults: number;
  failedWrongly: number;
  wrongFailures: string[];
  unanswered: number;
  dataLost: number;
  ciphertextsVerified: number;
  faultsInjected: Record<string, number>;
  /** After start-up, idle. */
  rssIdleMb: number;
  /** Once the load has run for a while: the baseline "flat" is judged against. */
  rssStartMb: number;
  rssEndMb: number;
  crashed: boolean;
}

const ACCEPTABLE_DURING_FAULT = new Set([status.UNAVAILABLE, status.DEADLINE_EXCEEDED]);
const GRACE_MS = 2500;
const KEEP = 4000;

function rssMb(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Math.round(Number(m[1]) / 102.4) / 10 : NaN;
}

export async function runSoak(durationMs: number, workers = 16, log: (s: string) => void = () => {}): Promise<SoakReport> {
  const vault = await ProxiedServer.start();
  const socket = join(tempSocketDir(), 'vaultkms.socket');
  const plugin = new PluginProcess([`-vault-address=${vault.url}`, '-auth-method=token', `-token=${vault.kmsToken}`, `-socket=unix://${socket}`, '-health-port=127.0.0.1:0', '-disable-v1=false', '-health-check-interval=2s']);
  const client = new KmsTestClient(socket, { timeoutMs: 2000 });
  const report: SoakReport = {
    durationMs, requests: 0, succeeded: 0, failedDuringFaults: 0, failedWrongly: 0, wrongFailures: [], unanswered: 0, dataLost: 0,
    ciphertextsVerified: 0, faultsInjected: {}, rssIdleMb: 0, rssStartMb: 0, rssEndMb: 0, crashed: false,
  };
  const kept: { api: 'v1' | 'v2'; cipher: Buffer; keyId: string; plain: Buffer }[] = [];
  let faultUntil = 0;
  let stop = false;
  let exited = false;
  void plugin.exited.then(() => (exited = true));
  try {
    await plugin.waitForSocket(socket);
    await eventually(() => client.status(), (s) => s.healthz === 'ok', 20_000);
    await sleep(500);
    report.rssIdleMb = rssMb(plugin.pid as number);

    const record = async <T>(op: () => Promise<T>): Promise<T | undefined> => {
      report.requests++;
      const started = Date.now();
      try {
        const r = await op();
        report.succeeded++;
        return r;
      } catch (e) {
        const code = (e as { code?: number }).code;
        if (code === undefined) report.unanswered++;
        else if (ACCEPTABLE_DURING_FAULT.has(code) && (started <= faultUntil || Date.now() <= faultUntil)) report.failedDuringFaults++;
        else {
          report.failedWrongly++;
          if (report.wrongFailures.length < 10) report.wrongFailures.push(`${code} ${(e as { details?: string }).details}`);
        }
        return undefined;
      }
    };

    const worker = async () => {
      while (!stop) {
        const api = Math.random() < 0.3 ? 'v1' : 'v2';
        const plain = randomBytes(32);
        if (api === 'v2') {
          const enc = await record(() => client.encrypt(plain, `soak-${randomInt(1e9)}`));
          if (enc) kept.length < KEEP ? kept.push({ api, cipher: enc.ciphertext, keyId: enc.key_id, plain }) : (kept[randomInt(KEEP)] = { api, cipher: enc.ciphertext, keyId: enc.key_id, plain });
        } else {
          const enc = await record(() => client.v1Encrypt(plain));
          if (enc) kept.length < KEEP ? kept.push({ api, cipher: enc.cipher, keyId: '', plain }) : (kept[randomInt(KEEP)] = { api, cipher: enc.cipher, keyId: '', plain });
        }
        if (kept.length > 0) {
          const k = kept[randomInt(kept.length)];
          const got = await record(() => (k.api === 'v2' ? client.decrypt(k.cipher, k.keyId).then((r) => r.plaintext) : client.v1Decrypt(k.cipher).then((r) => r.plain)));
          if (got && !got.equals(k.plain)) report.dataLost++;
        }
        if (Math.random() < 0.02) await record(() => client.status());
      }
    };

    const faults: [string, () => unknown, () => unknown][] = [
      ['seal', () => vault.seal(), () => vault.unseal()],
      ['503 burst', () => vault.addFault({ path: 'transit/', kind: 'status', status: 503, count: 20 }), () => vault.clearFaults()],
      ['connection resets', () => vault.addFault({ path: 'transit/', kind: 'reset', count: 10 }), () => vault.clearFaults()],
      ['429 storm', () => vault.addFault({ path: 'transit/', kind: 'status', status: 429, count: 30 }), () => vault.clearFaults()],
      ['slow vault', () => vault.setLatency(300), () => vault.setLatency(0)],
      ['hangs', () => vault.addFault({ path: 'transit/', kind: 'hang', count: 5 }), () => vault.clearFaults()],
      ['key rotation', () => vault.rotateKey(), () => {}],
    ];
    const injector = async () => {
      while (!stop) {
        await sleep(800 + randomInt(1500));
        if (stop) break;
        const [name, on, off] = faults[randomInt(faults.length)];
        report.faultsInjected[name] = (report.faultsInjected[name] ?? 0) + 1;
        const length = 300 + randomInt(1500);
        faultUntil = Date.now() + length + GRACE_MS;
        await on();
        await sleep(length);
        await off();
        faultUntil = Date.now() + GRACE_MS;
      }
    };

    const until = Date.now() + durationMs;
    const loops = [injector(), ...Array.from({ length: workers }, () => worker())];
    // V8 grows its heap once under load; drift is judged from a warm point on (2 min in a full soak).
    const warm = Math.min(120_000, durationMs / 2);
    setTimeout(() => (report.rssStartMb = exited ? NaN : rssMb(plugin.pid as number)), warm).unref();
    while (Date.now() < until && !exited) {
      await sleep(Math.min(10_000, until - Date.now()));
      log(`soak: ${Math.round((durationMs - (until - Date.now())) / 1000)}s, ${report.requests} requests, ${report.failedWrongly} wrong, rss ${rssMb(plugin.pid as number)} MB`);
    }
    stop = true;
    await Promise.all(loops);
    vault.clearFaults();
    await vault.unseal();
    vault.setLatency(0);
    report.crashed = exited;
    if (!exited) {
      await eventually(() => client.status(), (s) => s.healthz === 'ok', 20_000);
      for (const k of kept) {
        const got = await (k.api === 'v2' ? client.decrypt(k.cipher, k.keyId).then((r) => r.plaintext) : client.v1Decrypt(k.cipher).then((r) => r.plain)).catch(() => undefined);
        if (!got || !got.equals(k.plain)) report.dataLost++;
        report.ciphertextsVerified++;
      }
      report.rssEndMb = rssMb(plugin.pid as number);
    }
    return report;
  } finally {
    client.close();
    await plugin.stop();
    await vault.close();
  }
}

if (require.main === module) {
  const arg = (name: string, def: number) => {
    const i = process.argv.indexOf(`--${name}`);
    return i > 0 ? Number(process.argv[i + 1]) : def;
  };
  runSoak(arg('minutes', 10) * 60_000, arg('workers', 16), (s) => console.log(s)).then((r) => {
    console.log(JSON.stringify(r, null, 2));
    const drift = (r.rssEndMb - r.rssStartMb) / r.rssStartMb;
    console.log(`soak: RSS idle ${r.rssIdleMb} MB, warm ${r.rssStartMb} MB, end ${r.rssEndMb} MB, drift ${(drift * 100).toFixed(1)}%`);
    const ok = !r.crashed && r.failedWrongly === 0 && r.dataLost === 0 && r.unanswered === 0 && drift < 0.1;
    console.log(`soak: ${ok ? 1 : 0} passed, ${ok ? 0 : 1} failed`);
    process.exit(ok ? 0 : 1);
  });
}
