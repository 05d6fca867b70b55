import { inject, injectable } from 'tsyringe';
import type { ClockPort } from '../../ports/clock.port';
import type { MetricsPort } from '../../ports/metrics.port';
import { TOKENS } from '../../ports/tokens';
import type { DecryptOutcome, EncryptItem, EncryptOutcome, TransitKeyInfo, TransitPort } from '../../ports/transit.port';
import { abortReason, deadlineExceeded, type CallContext } from '../../ports/call-context';
import { KmsError } from '../../ports/errors';
import type { CoalescingSettings, DomainSettings } from './settings';
import { SharedCall, within } from './shared-call';

interface Waiter<I, O> {
  readonly item: I;
  readonly ctx: CallContext;
  resolve(o: O): void;
  reject(e: unknown): void;
}

/**
 * A TransitPort decorator that batches without waiting: while fewer than
 * maxInFlight backend requests are running, a request goes out at once (no
 * added latency at low load); when all slots are busy, requests queue, and
 * each freed slot sends everything queued (up to maxBatch) as one batch.
 * Per-item results go back to the right caller; a whole-request failure goes
 * to every caller in that batch.
 */
@injectable()
export class CoalescingTransit implements TransitPort {
  private readonly encrypts: Lane<EncryptItem, EncryptOutcome>;
  private readonly decrypts: Lane<string, DecryptOutcome>;

  constructor(
    @inject(TOKENS.TransitBackend) private readonly inner: TransitPort,
    @inject(TOKENS.DomainSettings) settings: DomainSettings,
    @inject(TOKENS.Clock) clock: ClockPort,
    @inject(TOKENS.Metrics) metrics: MetricsPort,
  ) {
    const now = () => clock.now();
    this.encrypts = new Lane((items, ctx) => inner.encrypt(items, ctx), settings.coalescing, now, (n) => metrics.batchSize('encrypt', n));
    this.decrypts = new Lane((items, ctx) => inner.decrypt(items, ctx), settings.coalescing, now, (n) => metrics.batchSize('decrypt', n));
  }

  encrypt(items: readonly EncryptItem[], ctx: CallContext): Promise<EncryptOutcome[]> {
    return Promise.all(items.map((item) => this.encrypts.submit(item, ctx)));
  }

  decrypt(ciphertexts: readonly string[], ctx: CallContext): Promise<DecryptOutcome[]> {
    return Promise.all(ciphertexts.map((c) => this.decrypts.submit(c, ctx)));
  }

  readKey(ctx: CallContext): Promise<TransitKeyInfo> {
    return this.inner.readKey(ctx);
  }
}

class Lane<I, O> {
  private inFlight = 0;
  private readonly queue: Waiter<I, O>[] = [];

  constructor(
    private readonly send: (items: I[], ctx: CallContext) => Promise<O[]>,
    private readonly settings: CoalescingSettings,
    private readonly now: () => number,
    private readonly onBatch: (size: number) => void,
  ) {}

  submit(item: I, ctx: CallContext): Promise<O> {
    // Nothing queued and a slot free: this item would be a batch of one, sent now. Sent directly, with the
    // caller's own context (a batch of one needs no shared one), it skips the queue and the bookkeeping.
    if (this.queue.length === 0 && this.inFlight < this.settings.maxInFlight) return within(this.sendAlone(item, ctx), ctx);
    const result = new Promise<O>((resolve, reject) => this.queue.push({ item, ctx, resolve, reject }));
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
  private takeLiveBatch(): Waiter<I, O>[] {
    const batch: Waiter<I, O>[] = [];
    const now = this.now();
    while (batch.length < this.settings.maxBatch && this.queue.length > 0) {
      const w = this.queue.shift() as Waiter<I, O>;
      if (w.ctx.signal.aborted) w.reject(abortReason(w.ctx));
      else if (w.ctx.deadline <= now) w.reject(deadlineExceeded('deadline exceeded while queued'));
      else batch.push(w);
    }
    return batch;
  }

  private async sendAlone(item: I, ctx: CallContext): Promise<O> {
    if (ctx.signal.aborted) throw abortReason(ctx);
    if (ctx.deadline <= this.now()) throw deadlineExceeded('deadline exceeded while queued');
    this.inFlight++;
    this.onBatch(1);
    try {
      const outcomes = await this.send([item], ctx);
      if (outcomes.length !== 1) throw new KmsError('internal', 'backend returned a different number of results');
      return outcomes[0] as O;
    } finally {
      this.inFlight--;
      this.pump();
    }
  }

  private async dispatch(batch: Waiter<I, O>[]): Promise<void> {
    this.inFlight++;
    const shared = new SharedCall();
    for (const w of batch) shared.join(w.ctx);
    this.onBatch(batch.length);
    try {
      const outcomes = await this.send(batch.map((w) => w.item), shared.context());
      if (outcomes.length !== batch.length) throw new KmsError('internal', 'backend returned a different number of results');
      batch.forEach((w, i) => w.resolve(outcomes[i]));
    } catch (e) {
      for (const w of batch) w.reject(e);
    } finally {
      this.inFlight--;
      this.pump();
    }
  }
}
