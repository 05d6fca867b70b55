import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Agent, fetch as undiciFetch } from 'undici';

/**
 * A steady load on kube-apiserver, as its clients make it: HTTPS with keep-alive and the admin client
 * certificate, creating and then updating Secrets in one namespace at a fixed rate and reading them back at
 * another, each value random and so checkable. Every request that does not succeed is recorded with its
 * start time, its kind and its error. A write whose outcome is unknown (a timeout, a 5xx, a dropped
 * connection) may still have been stored: its value is kept as "possible" until a later write to the same
 * Secret succeeds, and a read or the final check accepts the last acknowledged value or a possible one.
 */
export interface LoadOptions {
  readonly apiserverUrl: string;
  /** The node's PKI directory (ca.crt, admin.crt, admin.key). */
  readonly pki: string;
  readonly namespace: string;
  readonly writesPerSecond: number;
  readonly readsPerSecond: number;
  /** Secrets created first; once there are this many, writes update them. */
  readonly secrets: number;
  /** Per request (kube-apiserver's own request timeout is 60 s). */
  readonly timeoutMs?: number;
}

export type Op = 'write' | 'read';

export interface Failure {
  /** Milliseconds since the epoch, when the request was sent. */
  readonly at: number;
  /** Milliseconds the request took. */
  readonly took: number;
  readonly op: Op;
  readonly secret: string;
  /** HTTP status, or 0 when no answer came. */
  readonly status: number;
  readonly error: string;
}

export interface Outcome {
  readonly at: number;
  readonly took: number;
  readonly op: Op;
  readonly ok: boolean;
}

interface SecretState {
  /** The last value a write was acknowledged for (undefined: never acknowledged). */
  confirmed: string | undefined;
  /** Values written since, whose outcome is unknown. */
  possible: string[];
  inFlight: boolean;
  /** Every value ever sent for it, in order: a read may overlap a write that starts after it. */
  history: string[];
}

export interface FinalCheck {
  /** Secrets with an acknowledged write. */
  readonly acknowledged: number;
  /** Secrets read back and compared (acknowledged ones, plus unacknowledged ones that exist). */
  readonly checked: number;
  /** Acknowledged but not found. */
  readonly lost: string[];
  /** Found, but the read failed (an error from kube-apiserver). */
  readonly unreadable: { name: string; error: string }[];
  /** Found with a value that no write gave it. */
  readonly wrong: string[];
}

/** Error text without secret values: our values are random, not part of any message we keep, but be sure. */
function shortError(text: string): string {
  const oneLine = text.replace(/\s+/g, ' ').trim();
  try {
    const status = JSON.parse(text) as { message?: string; reason?: string };
    if (status.message) return `${status.reason ?? ''}: ${status.message}`.slice(0, 300);
  } catch {
    /* not a Status object */
  }
  return oneLine.slice(0, 300);
}

export class SecretLoad {
  readonly failures: Failure[] = [];
  readonly outcomes: Outcome[] = [];
  private readonly state = new Map<string, SecretState>();
  private readonly names: string[] = [];
  private readonly agent: Agent;
  private timer: NodeJS.Timeout | undefined;
  private startedAt = 0;
  private writesSent = 0;
  private readsSent = 0;
  private readonly pending = new Set<Promise<void>>();
  /** Start times of the requests in flight. */
  private readonly inFlight = new Set<{ at: number }>();
  /** Ticks at which a request was due but too many were already in flight: the generator fell behind. */
  skipped = { write: 0, read: 0 };
  private created = 0;
  /** Reads that returned a value no write gave (should stay 0). */
  wrongReads: string[] = [];

  constructor(private readonly o: LoadOptions) {
    this.agent = new Agent({
      connect: { ca: readFileSync(join(o.pki, 'ca.crt')), cert: readFileSync(join(o.pki, 'admin.crt')), key: readFileSync(join(o.pki, 'admin.key')) },
      keepAliveTimeout: 30_000,
      connections: 64,
    });
  }

  get secretsWritten(): number {
    return this.state.size;
  }

  start(): void {
    this.startedAt = Date.now();
    this.writesSent = 0;
    this.readsSent = 0;
    // One tick every 10 ms sends whatever the rates say is due by now: steady even when a tick is late.
    this.timer = setInterval(() => this.tick(), 10);
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    await Promise.allSettled([...this.pending]);
  }

  async close(): Promise<void> {
    await this.stop();
    await this.agent.close();
  }

  private tick(): void {
    const elapsed = (Date.now() - this.startedAt) / 1000;
    // At most 200 requests in flight: beyond that the generator would only measure its own queue.
    while (this.writesSent < elapsed * this.o.writesPerSecond) {
      this.writesSent++;
      if (this.pending.size >= 200) this.skipped.write++;
      else this.track(this.write());
    }
    while (this.readsSent < elapsed * this.o.readsPerSecond) {
      this.readsSent++;
      if (this.pending.size >= 200) this.skipped.read++;
      else if (this.names.length > 0) this.track(this.read());
    }
  }

  private track(p: Promise<void>): void {
    this.pending.add(p);
    void p.finally(() => this.pending.delete(p));
  }

  /** Requests in flight for longer than this: they may still fail. */
  stalled(olderThanMs: number): number {
    const now = Date.now();
    let n = 0;
    for (const r of this.inFlight) if (now - r.at > olderThanMs) n++;
    return n;
  }

  private async request(method: string, path: string, body?: unknown): Promise<{ status: number; text: string }> {
    const mark = { at: Date.now() };
    this.inFlight.add(mark);
    try {
      return await this.send(method, path, body);
    } finally {
      this.inFlight.delete(mark);
    }
  }

  private async send(method: string, path: string, body?: unknown): Promise<{ status: number; text: string }> {
    const res = await undiciFetch(`${this.o.apiserverUrl}${path}`, {
      method,
      dispatcher: this.agent,
      headers: body ? { 'content-type': 'application/json' } : {},
      body: body ? JSON.stringify(body) : undefined,
      signal: AbortSignal.timeout(this.o.timeoutMs ?? 30_000),
    });
    return { status: res.status, text: await res.text() };
  }

  private record(op: Op, at: number, ok: boolean, secret: string, status: number, error: string): void {
    const took = Date.now() - at;
    this.outcomes.push({ at, took, op, ok });
    if (!ok) this.failures.push({ at, took, op, secret, status, error });
  }

  private pickIdle(): string | undefined {
    for (let i = 0; i < 20; i++) {
      const name = this.names[Math.floor(Math.random() * this.names.length)];
      if (!this.state.get(name)?.inFlight) return name;
    }
    return undefined;
  }

  private async write(): Promise<void> {
    const creating = this.created < this.o.secrets;
    const name = creating ? `load-${String(this.created++).padStart(5, '0')}` : this.pickIdle();
    if (!name) {
      this.skipped.write++;
      return;
    }
    let s = this.state.get(name);
    if (!s) {
      s = { confirmed: undefined, possible: [], inFlight: false, history: [] };
      this.state.set(name, s);
    }
    s.inFlight = true;
    const value = randomBytes(12).toString('hex');
    s.history.push(value);
    const body = { apiVersion: 'v1', kind: 'Secret', metadata: { name, namespace: this.o.namespace }, stringData: { value } };
    const at = Date.now();
    try {
      const path = `/api/v1/namespaces/${this.o.namespace}/secrets`;
      const res = creating ? await this.request('POST', path, body) : await this.request('PUT', `${path}/${name}`, body);
      if (res.status === 200 || res.status === 201) {
        s.confirmed = value;
        s.possible = [];
        if (creating) this.names.push(name);
        this.record('write', at, true, name, res.status, '');
      } else {
        // 4xx from validation cannot have stored anything; everything else may have.
        if (res.status >= 500 || res.status === 429 || res.status === 0) s.possible.push(value);
        this.record('write', at, false, name, res.status, shortError(res.text));
      }
    } catch (e) {
      s.possible.push(value);
      this.record('write', at, false, name, 0, shortError((e as Error).cause ? `${(e as Error).message}: ${String((e as Error).cause)}` : (e as Error).message));
    } finally {
      s.inFlight = false;
    }
  }

  private async read(): Promise<void> {
    const name = this.pickIdle();
    if (!name) {
      this.skipped.read++;
      return;
    }
    const s = this.state.get(name) as SecretState;
    // What the Secret may hold when the read is served: what it could hold when it was sent, or whatever a
    // write sent since gave it (a write may start on a Secret while a read of it is in flight).
    const before = new Set([...(s.confirmed === undefined ? [] : [s.confirmed]), ...s.possible]);
    const sentSince = s.history.length;
    const at = Date.now();
    try {
      const res = await this.request('GET', `/api/v1/namespaces/${this.o.namespace}/secrets/${name}`);
      if (res.status !== 200) {
        this.record('read', at, false, name, res.status, shortError(res.text));
        return;
      }
      const got = Buffer.from((JSON.parse(res.text).data?.value as string) ?? '', 'base64').toString('utf8');
      if (!before.has(got) && !s.history.slice(sentSince).includes(got)) {
        this.wrongReads.push(name);
        this.record('read', at, false, name, res.status, 'value differs from every write');
      } else {
        this.record('read', at, true, name, res.status, '');
      }
    } catch (e) {
      this.record('read', at, false, name, 0, shortError((e as Error).cause ? `${(e as Error).message}: ${String((e as Error).cause)}` : (e as Error).message));
    }
  }

  /**
   * Every Secret ever written, read back one by one (each read decrypts it) and compared. Run with the load
   * stopped. A read that fails is retried a few times before it counts as unreadable.
   */
  async checkAll(): Promise<FinalCheck> {
    const lost: string[] = [];
    const unreadable: { name: string; error: string }[] = [];
    const wrong: string[] = [];
    let checked = 0;
    let acknowledged = 0;
    const entries = [...this.state.entries()];
    const one = async ([name, s]: [string, SecretState]): Promise<void> => {
      if (s.confirmed !== undefined) acknowledged++;
      let last = '';
      for (let attempt = 0; attempt < 5; attempt++) {
        try {
          const res = await this.request('GET', `/api/v1/namespaces/${this.o.namespace}/secrets/${name}`);
          if (res.status === 404) {
            if (s.confirmed !== undefined) lost.push(name);
            return;
          }
          if (res.status === 200) {
            checked++;
            const got = Buffer.from((JSON.parse(res.text).data?.value as string) ?? '', 'base64').toString('utf8');
            if (got !== s.confirmed && !s.possible.includes(got)) wrong.push(name);
            return;
          }
          last = `${res.status} ${shortError(res.text)}`;
        } catch (e) {
          last = (e as Error).message;
        }
        await new Promise((r) => setTimeout(r, 1000));
      }
      unreadable.push({ name, error: last });
    };
    for (let i = 0; i < entries.length; i += 32) await Promise.all(entries.slice(i, i + 32).map(one));
    return { acknowledged, checked, lost, unreadable, wrong };
  }
}
