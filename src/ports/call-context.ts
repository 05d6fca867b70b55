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

/** Why the context was aborted, as the KmsError to answer with. */
export function abortReason(ctx: CallContext): KmsError {
  const reason: unknown = ctx.signal.reason;
  return reason instanceof KmsError ? reason : callerCancelled();
}

/** Calls `listener` once when the context aborts; returns the function that stops listening. */
export function onAbort(ctx: CallContext, listener: () => void): () => void {
  if (ctx.signal === NEVER_ABORTED) return () => {};
  ctx.signal.addEventListener('abort', listener, { once: true });
  return () => ctx.signal.removeEventListener('abort', listener);
}
