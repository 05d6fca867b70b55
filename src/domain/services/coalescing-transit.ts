import { inject, injectable } from 'tsyringe';
import type { ClockPort } from '../../ports/clock.port';
import type { MetricsPort } from '../../ports/metrics.port';
import { TOKENS } from '../../ports/tokens';
import type { EncryptItem, Outcome, Sealed, TransitBatchPort, TransitKeyInfo, TransitPort } from '../../ports/transit.port';
import { abortReason, deadlineExceeded, onAbort, type CallContext } from '../../ports/call-context';
import { KmsError } from '../../ports/errors';
import type { CoalescingSettings, DomainSettings } from './settings';

/**
 * How Decrypts and Encrypts share Vault requests (docs/adr/0003): identical
 * concurrent Decrypts share one backend call (SingleFlight), and distinct ones
 * that arrive while every slot is busy leave as one batch (CoalescingTransit,
 * the batching lane). Both run one backend call for several callers through a
 * SharedCall, which no caller's departure cancels while another still waits.
 */

/**
 * Concurrent identical requests share one backend call. kube-apiserver sends
 * identical Decrypts for the same DEK seed at once on a cold start and does
 * not de-duplicate them. The entry is dropped the moment the call settles, so
 * no plaintext outlives the requests it answered.
 */
export class SingleFlight<T> {
  private readonly flights = new Map<string, { shared: SharedCall; result: Promise<T> }>();

  constructor(private readonly onShared: () => void = () => {}) {}

  run(key: string, ctx: CallContext, call: (ctx: CallContext) => Promise<T>): Promise<T> {
    const existing = this.flights.get(key);
    if (existing) {
      existing.shared.join(ctx);
      this.onShared();
      return within(existing.result, ctx);
    }
    const shared = new SharedCall();
    shared.join(ctx);
    const result = (async () => {
      try {
        return await call(shared.context());
      } finally {
        this.flights.delete(key);
      }
    })();
    this.flights.set(key, { shared, result });
    return within(result, ctx);
  }

  get size(): number {
    return this.flights.size;
  }
}

/**
 * One backend call made on behalf of several callers. It runs until the
 * latest participant's deadline and is aborted once every participant has
 * gone, so no work continues for callers nobody waits for. Each participant
 * still gives up when its own signal fires.
 */
class SharedCall {
  private readonly controller = new AbortController();
  private readonly scope = { deadline: Number.NEGATIVE_INFINITY, signal: this.controller.signal };
  private remaining = 0;

  /** The backend call's context: the latest deadline of those who joined so far. */
  context(): CallContext {
    return this.scope;
  }

  /** Adds a participant; a later deadline extends the backend call's, also once it has started (retries budget by it). */
  join(ctx: CallContext): void {
    this.remaining++;
    if (ctx.deadline > this.scope.deadline) this.scope.deadline = ctx.deadline;
    onAbort(ctx, () => this.leave(ctx));
  }

  private leave(ctx: CallContext): void {
    this.remaining--;
    if (this.remaining <= 0) this.controller.abort(abortReason(ctx));
  }
}

/** Resolves with `work` unless the caller's signal fires first. Starts no timer: the edge owns the deadline. */
function within<T>(work: Promise<T>, ctx: CallContext): Promise<T> {
  if (ctx.signal.aborted) {
    work.catch(() => {}); // settled by the other participants; this caller has gone
    return Promise.reject(abortReason(ctx));
  }
  return new Promise<T>((resolve, reject) => {
    const stop = onAbort(ctx, () => reject(abortReason(ctx)));
    work.then(
      (v) => {
        stop();
        resolve(v);
      },
      (e) => {
        stop();
        reject(e);
      },
    );
  });
}

interface Waiter<I, T> {
  readonly item: I;
  readonly ctx: CallContext;
  resolve(result: T): void;
  reject(e: unknown): void;
}

/**
 * The batching lane: the domain's per-item TransitPort over the batch-shaped
 * backend. It batches without waiting: while fewer than maxInFlight backend
 * requests are running, a request goes out at once (no added latency at low
 * load); when all slots are busy, requests queue, and each freed slot sends
 * everything queued (up to maxBatch) as one batch. Each item's outcome goes
 * back to its caller, resolved or thrown as its KmsError; a whole-request
 * failure goes to every caller in that batch.
 */
@injectable()
export class CoalescingTransit implements TransitPort {
  private readonly encrypts: Lane<EncryptItem, Sealed>;
  private readonly decrypts: Lane<string, { readonly plaintext: Uint8Array }>;

  constructor(
    @inject(TOKENS.TransitBackend) private readonly inner: TransitBatchPort,
    @inject(TOKENS.DomainSettings) settings: DomainSettings,
    @inject(TOKENS.Clock) clock: ClockPort,
    @inject(TOKENS.Metrics) metrics: MetricsPort,
  ) {
    const now = () => clock.now();
    this.encrypts = new Lane((items, ctx) => inner.encrypt(items, ctx), settings.coalescing, now, (n) => metrics.batchSize('encrypt', n));
    this.decrypts = new Lane((items, ctx) => inner.decrypt(items, ctx), settings.coalescing, now, (n) => metrics.batchSize('decrypt', n));
  }

  async encrypt(item: EncryptItem, ctx: CallContext): Promise<Sealed> {
    const { ciphertext, keyVersion } = await this.encrypts.submit(item, ctx);
    return { ciphertext, keyVersion };
  }

  async decrypt(ciphertext: string, ctx: CallContext): Promise<Uint8Array> {
    return (await this.decrypts.submit(ciphertext, ctx)).plaintext;
  }

  readKey(ctx: CallContext): Promise<TransitKeyInfo> {
    return this.inner.readKey(ctx);
  }
}

class Lane<I, T> {
  private inFlight = 0;
  private readonly queue: Waiter<I, T>[] = [];

  constructor(
    private readonly send: (items: I[], ctx: CallContext) => Promise<Outcome<T>[]>,
    private readonly settings: CoalescingSettings,
    private readonly now: () => number,
    private readonly onBatch: (size: number) => void,
  ) {}

  submit(item: I, ctx: CallContext): Promise<T> {
    // Nothing queued and a slot free: this item would be a batch of one, sent now. Sent directly, with the
    // caller's own context (a batch of one needs no shared one), it skips the queue and the bookkeeping.
    if (this.queue.length === 0 && this.inFlight < this.settings.maxInFlight) return within(this.sendAlone(item, ctx), ctx);
    const result = new Promise<T>((resolve, reject) => this.queue.push({ item, ctx, resolve, reject }));
    this.pump();
    return within(result, ctx);
  }

  private pump(): void {
    while (this.inFlight < this.settings.maxInFlight && this.queue.length > 0) {
      const batch = this.takeLiveBatch();
      if (batch.length > 0) void this.dispatch(batch);
    }
  }

  /** Up to maxBatch waiters whose callers are still waiting. */
  private takeLiveBatch(): Waiter<I, T>[] {
    const batch: Waiter<I, T>[] = [];
    const now = this.now();
    while (batch.length < this.settings.maxBatch && this.queue.length > 0) {
      const w = this.queue.shift() as Waiter<I, T>;
      if (w.ctx.signal.aborted) w.reject(abortReason(w.ctx));
      else if (w.ctx.deadline <= now) w.reject(deadlineExceeded('deadline exceeded while queued'));
      else batch.push(w);
    }
    return batch;
  }

  private async sendAlone(item: I, ctx: CallContext): Promise<T> {
    if (ctx.signal.aborted) throw abortReason(ctx);
    if (ctx.deadline <= this.now()) throw deadlineExceeded('deadline exceeded while queued');
    this.inFlight++;
    this.onBatch(1);
    try {
      const outcomes = await this.send([item], ctx);
      const [outcome] = outcomes;
      if (outcomes.length !== 1 || !outcome) throw new KmsError('internal', 'backend returned a different number of results');
      if (!outcome.ok) throw outcome.error;
      return outcome;
    } finally {
      this.inFlight--;
      this.pump();
    }
  }

  private async dispatch(batch: Waiter<I, T>[]): Promise<void> {
    this.inFlight++;
    const shared = new SharedCall();
    for (const w of batch) shared.join(w.ctx);
    this.onBatch(batch.length);
    try {
      const outcomes = await this.send(batch.map((w) => w.item), shared.context());
      if (outcomes.length !== batch.length) throw new KmsError('internal', 'backend returned a different number of results');
      batch.forEach((w, i) => {
        const outcome = outcomes[i]!;
        if (outcome.ok) w.resolve(outcome);
        else w.reject(outcome.error);
      });
    } catch (e) {
      for (const w of batch) w.reject(e);
    } finally {
      this.inFlight--;
      this.pump();
    }
  }
}
