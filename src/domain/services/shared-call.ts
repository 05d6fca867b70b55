import { abortReason, onAbort, type CallContext } from '../../ports/call-context';

/**
 * One backend call made on behalf of several callers. It runs until the
 * latest participant's deadline and is aborted once every participant has
 * gone, so no work continues for callers nobody waits for. Each participant
 * still gives up when its own signal fires.
 */
export class SharedCall {
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
