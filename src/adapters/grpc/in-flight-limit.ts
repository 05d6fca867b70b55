/**
 * Bounds the work the plugin holds at once. grpc-js has already read a
 * request when the handler sees it; a call that would pass either bound is
 * answered RESOURCE_EXHAUSTED at once, so its buffers are freed instead of
 * waiting for Vault. kube-apiserver retries such calls; its own requests are
 * 32 bytes, so only a flood of huge or countless requests meets the bound.
 */
export const MAX_IN_FLIGHT_CALLS = 1024;
/** Request bytes (plaintexts, ciphertexts, annotations) held by calls in flight. */
export const MAX_IN_FLIGHT_REQUEST_BYTES = 4 * 1024 * 1024;
/** How much of a request's uid is logged: kube-apiserver's are 36-character UUIDs. */
export const MAX_LOGGED_UID_CHARS = 64;

export class InFlightLimit {
  private calls = 0;
  private bytes = 0;
  private lastReportAt = Number.NEGATIVE_INFINITY;

  constructor(
    private readonly maxCalls = MAX_IN_FLIGHT_CALLS,
    private readonly maxBytes = MAX_IN_FLIGHT_REQUEST_BYTES,
  ) {}

  /** Takes a slot for a request of `bytes`; false when the plugin already holds too much. */
  tryAcquire(bytes: number): boolean {
    if (this.calls + 1 > this.maxCalls || this.bytes + bytes > this.maxBytes) return false;
    this.calls++;
    this.bytes += bytes;
    return true;
  }

  release(bytes: number): void {
    this.calls--;
    this.bytes -= bytes;
  }

  /** True at most once per interval: a flood of rejections logs one line, not one per call. */
  shouldReport(now: number, intervalMs = 10_000): boolean {
    if (now - this.lastReportAt < intervalMs) return false;
    this.lastReportAt = now;
    return true;
  }
}

/** Bytes of the Buffers and strings in a decoded request, one level of maps deep. */
export function requestBytes(req: unknown, depth = 0): number {
  if (Buffer.isBuffer(req) || req instanceof Uint8Array) return req.length;
  if (typeof req === 'string') return req.length;
  if (depth > 1 || req === null || typeof req !== 'object') return 0;
  let n = 0;
  for (const [k, v] of Object.entries(req)) n += k.length + requestBytes(v, depth + 1);
  return n;
}

export function truncateUid(uid: string): string {
  return uid.length <= MAX_LOGGED_UID_CHARS ? uid : `${uid.slice(0, MAX_LOGGED_UID_CHARS)}…(${uid.length} chars)`;
}
