/**
 * Bounds the work the plugin holds at once. grpc-js has already read a
 * request when the handler sees it; a call that would pass either bound is
 * answered RESOURCE_EXHAUSTED at once, so its buffers are freed instead of
 * waiting for Vault. kube-apiserver retries such calls; its own requests are
 * 32 bytes, so only a flood of huge or countless requests meets the bound.
 */
const MAX_IN_FLIGHT_CALLS = 1024;
/** Request bytes (plaintexts, ciphertexts, annotations) held by calls in flight. */
const MAX_IN_FLIGHT_REQUEST_BYTES = 4 * 1024 * 1024;
/**
 * Calls whose request message has not been read yet. Node's HTTP/2 layer takes
 * in a stream's whole body even while grpc-js has not asked for it (2,000
 * streams of 92 KB with nobody reading: 187 MiB measured), and a call is only
 * weighed against MAX_IN_FLIGHT_REQUEST_BYTES once it is read and decoded. So
 * each unread call is a request of unknown size, up to the 256 KiB a message
 * may have: at most this many are taken at once; beyond, a new call is
 * answered RESOURCE_EXHAUSTED before its body is read. One connection may have
 * MAX_CONCURRENT_STREAMS (256) calls open, so kube-apiserver's one connection
 * never meets it; only many connections at once do.
 */
const MAX_UNREAD_CALLS = 256;
/**
 * A call is read only while the held requests leave this much of
 * MAX_IN_FLIGHT_REQUEST_BYTES free (the largest plaintext): otherwise a flood
 * keeps the budget a few KiB short of full, and every new call would be read
 * in full only to be refused by its handler.
 */
const READ_HEADROOM_BYTES = 64 * 1024;

/** How much of a request's uid is logged: kube-apiserver's are 36-character UUIDs. */
const MAX_LOGGED_UID_CHARS = 64;

export class InFlightLimit {
  private calls = 0;
  private bytes = 0;
  private lastReportAt = Number.NEGATIVE_INFINITY;
  private unread = 0;

  constructor(
    private readonly maxCalls = MAX_IN_FLIGHT_CALLS,
    private readonly maxBytes = MAX_IN_FLIGHT_REQUEST_BYTES,
    private readonly maxUnread = MAX_UNREAD_CALLS,
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

  /**
   * A call arrived, its request not read yet: false when it must be refused now (the plugin holds as much as it
   * may, or as many unread calls as it may); otherwise it counts as unread until readDone().
   */
  tryStartRead(): boolean {
    if (this.calls >= this.maxCalls || this.bytes + Math.min(READ_HEADROOM_BYTES, this.maxBytes) > this.maxBytes || this.unread >= this.maxUnread) return false;
    this.unread++;
    return true;
  }

  /** The call's request was read, or the call ended before it was. */
  readDone(): void {
    this.unread--;
  }

  /** True at most once per interval: a flood of rejections logs one line, not one per call. */
  shouldReport(now: number, intervalMs = 10_000): boolean {
    if (now - this.lastReportAt < intervalMs) return false;
    this.lastReportAt = now;
    return true;
  }
}

/** Bytes of the Buffers and strings in a decoded request, one level of maps deep. */
/** One bound for the whole process: every service, version and connection shares the plugin's memory. */
export const PROCESS_IN_FLIGHT = new InFlightLimit();

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
