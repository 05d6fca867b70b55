import { KmsError } from './errors';

/**
 * What a single request carries into the domain: one AbortSignal, made at the
 * edge (the gRPC call, or the start of a background operation), that fires when
 * the caller's deadline passes or the caller goes away, with a KmsError as its
 * reason. Everything below listens to that signal; nothing starts another timer
 * for the same deadline. `deadline` (absolute epoch milliseconds, Infinity for
 * none) is there for code that budgets time, such as HTTP retries.
 */
export interface CallContext {
  readonly deadline: number;
  readonly signal: AbortSignal;
}

const NEVER_ABORTED = new AbortController().signal;

/** For work nobody cancels (tests, and answers from memory). */
export const NO_DEADLINE: CallContext = { deadline: Number.POSITIVE_INFINITY, signal: NEVER_ABORTED };

export function deadlineExceeded(detail = 'deadline exceeded'): KmsError {
  return new KmsError('deadline-exceeded', detail);
}

export function callerCancelled(): KmsError {
  return new KmsError('cancelled', 'the caller cancelled the request');
}

/** The edge of work the plugin starts itself: a context that aborts after `ms`. */
export function withTimeout(now: number, ms: number): CallContext {
  const controller = new AbortController();
  setTimeout(() => controller.abort(deadlineExceeded()), ms).unref();
  return { deadline: now + ms, signal: controller.signal };
}

/**
 * A CallContext for the request path that makes no AbortController unless
 * someone asks for `signal`: a gRPC call or a shared backend call cancels
 * through a plain listener list (an AbortController with its EventTarget costs
 * about 15 µs of CPU per call, and a Decrypt passes through three of them).
 * `signal` is still a real AbortSignal, made on first use and aborted with the
 * same reason, for code that hands it to a library.
 */
export class CallScope implements CallContext {
  private abortedWith: KmsError | undefined;
  private listeners: (() => void)[] | undefined;
  private controller: AbortController | undefined;

  constructor(public deadline: number) {}

  get aborted(): boolean {
    return this.abortedWith !== undefined;
  }

  get reason(): KmsError | undefined {
    return this.abortedWith;
  }

  get signal(): AbortSignal {
    if (!this.controller) {
      this.controller = new AbortController();
      if (this.abortedWith) this.controller.abort(this.abortedWith);
    }
    return this.controller.signal;
  }

  /** Aborts once; later calls keep the first reason. Listeners run in the order they were added. */
  abort(reason: KmsError): void {
    if (this.abortedWith) return;
    this.abortedWith = reason;
    const listeners = this.listeners;
    this.listeners = undefined;
    if (listeners) for (const l of listeners) l();
    this.controller?.abort(reason);
  }

  /** Calls `listener` once on abort (not at all if already aborted); returns the function that stops listening. */
  listen(listener: () => void): () => void {
    if (this.abortedWith) return () => {};
    (this.listeners ??= []).push(listener);
    return () => {
      const i = this.listeners?.indexOf(listener) ?? -1;
      if (i >= 0) this.listeners!.splice(i, 1);
    };
  }
}

/** Whether the context has been aborted, without making a CallScope's AbortSignal. */
export function isAborted(ctx: CallContext): boolean {
  return ctx instanceof CallScope ? ctx.aborted : ctx.signal.aborted;
}

/** Why the context was aborted, as the KmsError to answer with. */
export function abortReason(ctx: CallContext): KmsError {
  const reason: unknown = ctx instanceof CallScope ? ctx.reason : ctx.signal.reason;
  return reason instanceof KmsError ? reason : callerCancelled();
}

/** Calls `listener` once when the context aborts; returns the function that stops listening. */
export function onAbort(ctx: CallContext, listener: () => void): () => void {
  if (ctx instanceof CallScope) return ctx.listen(listener);
  if (ctx.signal === NEVER_ABORTED) return () => {};
  ctx.signal.addEventListener('abort', listener, { once: true });
  return () => ctx.signal.removeEventListener('abort', listener);
}
