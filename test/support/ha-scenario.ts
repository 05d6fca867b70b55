import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { request } from 'undici';
import { KmsTestClient } from './kms-client';
import type { RaftCluster, RaftNode } from './openbao-raft';
import { PluginProcess, goPluginCommand, sleep, tempSocketDir } from './plugin-process';
import { TcpForwarder } from './tcp-forwarder';

/**
 * The steady load and the failure cycle of the HA suite (test/e2e/ha-raft)
 * and of bench/ha.ts: kube-apiserver-like calls (Decrypts at a fixed rate plus
 * Status, each with a 3 s deadline, sent on schedule whatever the answers),
 * every call recorded with its start, end and outcome.
 */
export interface CallRecord {
  readonly op: 'decrypt' | 'status';
  readonly start: number;
  readonly end: number;
  readonly ok: boolean;
  /** gRPC code name or Status's healthz text when not ok. */
  readonly error?: string;
}

export interface LoadSettings {
  readonly decryptsPerSecond: number;
  readonly statusPerSecond: number;
  readonly deadlineMs: number;
}

export const KUBE_APISERVER_LOAD: LoadSettings = { decryptsPerSecond: 20, statusPerSecond: 2, deadlineMs: 3000 };

/** A plugin under test with its client: ours (built CLI, every address) or the Go plugin (one address). */
export interface PluginUnderTest {
  readonly name: string;
  readonly process: PluginProcess;
  readonly client: KmsTestClient;
  readonly healthUrl: string;
}

export async function startOurs(name: string, addresses: readonly string[], token: string, extraEnv: Record<string, string> = {}): Promise<PluginUnderTest> {
  const socket = join(tempSocketDir(), 'vaultkms.socket');
  const p = new PluginProcess(
    [`-vault-address=${addresses.join(',')}`, '-auth-method=token', `-token=${token}`, `-socket=unix://${socket}`, '-health-port=127.0.0.1:0'],
    extraEnv,
  );
  try {
    await p.waitForSocket(socket, 20_000);
    const port = await p.healthPort();
    return { name, process: p, client: new KmsTestClient(socket), healthUrl: `http://127.0.0.1:${port}/health` };
  } catch (e) {
    await p.stop();
    throw e;
  }
}

/** The Go plugin v1.4.0: one address only, -health-port as a bare port. */
export async function startGo(name: string, address: string, token: string): Promise<PluginUnderTest> {
  const socket = join(tempSocketDir(), 'vaultkms.socket');
  const port = await TcpForwarder.freePort();
  const p = new PluginProcess([`-vault-address=${address}`, '-auth-method=token', `-token=${token}`, `-socket=unix://${socket}`, `-health-port=${port}`], {}, undefined, goPluginCommand());
  try {
    await p.waitForSocket(socket, 20_000);
    return { name, process: p, client: new KmsTestClient(socket), healthUrl: `http://127.0.0.1:${port}/health` };
  } catch (e) {
    await p.stop();
    throw e;
  }
}

export async function stopPlugin(p: PluginUnderTest | undefined): Promise<void> {
  if (!p) return;
  p.client.close();
  await p.process.stop();
}

/** Waits until Status says ok, then encrypts `n` data keys to decrypt under load. */
export async function prepare(p: PluginUnderTest, n = 40): Promise<Buffer[]> {
  const until = Date.now() + 30_000;
  for (;;) {
    const s = await p.client.status().catch(() => undefined);
    if (s?.healthz === 'ok') break;
    if (Date.now() > until) throw new Error(`${p.name}: Status not ok within 30 s (${s?.healthz ?? 'no answer'})\n${p.process.stdout.slice(-20).join('\n')}`);
    await sleep(200);
  }
  const out: Buffer[] = [];
  for (let i = 0; i < n; i++) out.push((await p.client.encrypt(randomBytes(32), `uid-${i}`)).ciphertext);
  return out;
}

/** Open-loop load: calls leave on schedule, never waiting for earlier answers. */
export class SteadyLoad {
  readonly calls: CallRecord[] = [];
  private readonly timers: NodeJS.Timeout[] = [];
  private readonly inFlight = new Set<Promise<void>>();
  private next = 0;

  constructor(
    private readonly p: PluginUnderTest,
    private readonly ciphertexts: readonly Buffer[],
    private readonly settings: LoadSettings = KUBE_APISERVER_LOAD,
  ) {}

  start(): this {
    this.timers.push(setInterval(() => this.track('decrypt'), 1000 / this.settings.decryptsPerSecond));
    this.timers.push(setInterval(() => this.track('status'), 1000 / this.settings.statusPerSecond));
    return this;
  }

  async stop(): Promise<CallRecord[]> {
    for (const t of this.timers) clearInterval(t);
    await Promise.all([...this.inFlight]);
    return this.calls;
  }

  private track(op: 'decrypt' | 'status'): void {
    const start = Date.now();
    const done = (ok: boolean, error?: string) => this.calls.push({ op, start, end: Date.now(), ok, error });
    const call =
      op === 'decrypt'
        ? this.p.client.decrypt(this.ciphertexts[this.next++ % this.ciphertexts.length], '', {}, this.settings.deadlineMs).then(
            () => done(true),
            (e: { code?: number }) => done(false, `grpc ${e.code}`),
          )
        : this.p.client.status(this.settings.deadlineMs).then(
            (s) => done(s.healthz === 'ok', s.healthz === 'ok' ? undefined : `healthz ${s.healthz.slice(0, 80)}`),
            (e: { code?: number }) => done(false, `grpc ${e.code}`),
          );
    const tracked: Promise<void> = call.then(() => undefined).finally(() => this.inFlight.delete(tracked));
    this.inFlight.add(tracked);
  }
}

/** Polls /health every 200 ms: each answer's time and whether it said ok. */
export class HealthPoller {
  readonly samples: { at: number; ok: boolean }[] = [];
  private stopped = false;
  private loop: Promise<void> | undefined;

  constructor(private readonly url: string) {}

  start(): this {
    this.loop = (async () => {
      while (!this.stopped) {
        const at = Date.now();
        const ok = await request(this.url, { headersTimeout: 1000, bodyTimeout: 1000 })
          .then(async (r) => {
            await r.body.dump();
            return r.statusCode === 200;
          })
          .catch(() => false);
        this.samples.push({ at, ok });
        await sleep(200);
      }
    })();
    return this;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.loop;
  }
}

export interface FailoverTimeline {
  readonly killed: RaftNode;
  readonly killedAt: number;
  /** When the harness first saw another node answer sys/health as active. */
  readonly newLeaderAt: number;
  readonly restartedAt: number;
}

/**
 * SIGKILLs the active node, waits for another to become active, restarts and
 * unseals the killed one, and waits until it serves as a standby again, with a
 * few seconds of load before and after.
 */
export async function killActiveAndRestart(cluster: RaftCluster, settleMs = 3000): Promise<FailoverTimeline> {
  await sleep(settleMs);
  const killed = await cluster.waitForActive(10_000);
  const killedAt = Date.now();
  await killed.kill();
  await cluster.waitForActive(90_000, killed);
  const newLeaderAt = Date.now();
  await sleep(2000);
  await cluster.restart(killed);
  const restartedAt = Date.now();
  const until = Date.now() + 60_000;
  while ((await killed.role()) !== 'standby' && Date.now() < until) await sleep(200);
  await sleep(settleMs);
  return { killed, killedAt, newLeaderAt, restartedAt };
}

export interface Summary {
  readonly decrypts: number;
  readonly failedDecrypts: number;
  readonly statuses: number;
  readonly failedStatuses: number;
  readonly errors: Record<string, number>;
  /** Last failed call's end minus the kill, ms (0 when nothing failed). */
  readonly failingForMs: number;
}

export function summarize(calls: readonly CallRecord[], killedAt: number): Summary {
  const failed = calls.filter((c) => !c.ok);
  const errors: Record<string, number> = {};
  for (const c of failed) errors[`${c.op} ${c.error}`] = (errors[`${c.op} ${c.error}`] ?? 0) + 1;
  return {
    decrypts: calls.filter((c) => c.op === 'decrypt').length,
    failedDecrypts: failed.filter((c) => c.op === 'decrypt').length,
    statuses: calls.filter((c) => c.op === 'status').length,
    failedStatuses: failed.filter((c) => c.op === 'status').length,
    errors,
    failingForMs: failed.length === 0 ? 0 : Math.max(...failed.map((c) => c.end)) - killedAt,
  };
}
