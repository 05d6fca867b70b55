import type { CallContext } from './call-context';
import { KmsError } from './errors';

/**
 * One backend call made on behalf of several callers. It runs until the
 * latest participant's deadline and is aborted once every participant has
 * gone, so no work continues for callers nobody waits for. Each participant
 * still gives up at its own deadline or cancellation.
 */
export class SharedCall {
  private readonly controller = new AbortController();
  private remaining = 0;
  private latestDeadline = Number.NEGATIVE_INFINITY;

  context(): CallContext {
    return { deadline: this.latestDeadline, signal: this.controller.signal };
  }

  /** Adds a participant; must be called before the backend call starts to extend its deadline. */
  join(ctx: CallContext): void {
    this.remaining++;
    if (ctx.deadline > this.latestDeadline) this.latestDeadline = ctx.deadline;
    ctx.signal?.addEventListener('abort', () => this.leave(), { once: true });
  }

  private leave(): void {
    this.remaining--;
    if (this.remaining <= 0) this.controller.abort();
  }
}

/** Resolves with `work` unless the caller's deadline or cancellation comes first. */
export function within<T>(work: Promise<T>, ctx: CallContext, now: () => number): Promise<T> {
  if (!Number.isFinite(ctx.deadline) && !ctx.signal) return work;
  return new Promise<T>((resolve, reject) => {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const onAbort = () => finish(() => reject(new KmsError('cancelled', 'the caller cancelled the request')));
    const finish = (act: () => void) => {
      if (timer) clearTimeout(timer);
      ctx.signal?.removeEventListener('abort', onAbort);
      act();
    };
    if (ctx.signal?.aborted) return onAbort();
    ctx.signal?.addEventListener('abort', onAbort, { once: true });
    if (Number.isFinite(ctx.deadline)) {
      timer = setTimeout(() => finish(() => reject(new KmsError('deadline-exceeded', 'deadline exceeded'))), Math.max(0, ctx.deadline - now()));
    }
    work.then((v) => finish(() => resolve(v)), (e) => finish(() => reject(e)));
  });
}
