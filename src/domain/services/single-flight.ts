import type { CallContext } from '../../ports/call-context';
import { SharedCall, within } from './shared-call';

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
