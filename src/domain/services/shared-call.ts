import { abortReason, onAbort, type CallContext } from '../../ports/call-context';

/**
 * One backend call made on behalf of several callers. It runs until the
 * latest participant's deadline and is aborted once every participant has
 * gone, so no work continues for callers nobody waits for. Each participant
 * still gives up when its own signal fires.
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
    onAbort(ctx, () => this.leave(ctx));
  }

  private leave(ctx: CallContext): void {
    this.remaining--;
    if (this.remaining <= 0) this.controller.abort(abortReason(ctx));
  }
}

/** Resolves with `work` unless the caller's signal fires first. Starts no timer: the edge owns the deadline. */
export function within<T>(work: Promise<T>, ctx: CallContext): Promise<T> {
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
