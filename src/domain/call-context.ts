/**
 * What a single request carries into the domain: when its caller stops waiting
 * (absolute epoch milliseconds, Infinity for "no deadline") and a signal that
 * fires if the caller goes away. Every backend call takes one, so no work
 * continues for a request nobody is waiting for.
 */
export interface CallContext {
  readonly deadline: number;
  readonly signal?: AbortSignal;
}

export const NO_DEADLINE: CallContext = { deadline: Number.POSITIVE_INFINITY };

export function withTimeout(now: number, ms: number, signal?: AbortSignal): CallContext {
  return { deadline: now + ms, signal };
}

