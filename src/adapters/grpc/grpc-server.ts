import { unlink } from 'node:fs/promises';
import { constants as http2, type Http2Stream } from 'node:http2';
import { Metadata, Server, ServerCredentials, status, type ServerInterceptingCall, type ServerInterceptingCallInterface, type ServerInterceptor } from '@grpc/grpc-js';
import { LIMITS } from '../../domain/model/limits';
import type { LoggerPort } from '../../ports/logger.port';
import { KMS_V1_SERVICE, KMS_V2_SERVICE, type KmsV1Handlers, type KmsV2Handlers } from './kms-messages';
import { bindPathFor, claimSocket, grpcAddressOf, prepareSocketPath, releaseSocket, type OwnedSocket, type SocketLocation } from './socket-file';

/**
 * Calls one connection may have open at once: above the 200 concurrent Decrypts of a kube-apiserver cold start (so
 * identical ones still share one Vault request), low enough that one connection cannot flood memory with 256 KiB
 * messages. See InFlightLimit below for the process-wide bound.
 */
const MAX_CONCURRENT_STREAMS = 256;

/**
 * The HTTP/2 flow-control window of each stream the server grants before the
 * request is read. Node takes in up to the window of every stream whether or
 * not grpc-js reads it, so it bounds what an unread or refused call costs:
 * 2,000 unread streams of 92 KB held 189 MiB with Node's default 64 KiB, 96 MiB
 * with 16 KiB (a bare Node HTTP/2 server, measured). kube-apiserver's requests
 * are a few hundred bytes; a 92 KB one takes a few more window updates.
 */
export const STREAM_WINDOW_BYTES = 16 * 1024;

/**
 * grpc-js has no option for the server's HTTP/2 settings beyond max streams; the settings object it hands to
 * http2.createServer at bind time is set here. False when this grpc-js keeps it elsewhere (then Node's default).
 */
function setStreamWindow(server: Server, bytes: number): boolean {
  const common = (server as unknown as { commonServerOptions?: { settings?: Record<string, unknown> } }).commonServerOptions;
  if (!common || typeof common !== 'object') return false;
  common.settings = { ...(common.settings ?? {}), initialWindowSize: bytes };
  return true;
}

interface KmsGrpcServerOptions {
  readonly socket: SocketLocation;
  readonly socketMode: number;
  readonly forceOverwrite: boolean;
  readonly v2?: KmsV2Handlers;
  readonly v1?: KmsV1Handlers;
}

/**
 * Both KMS services on one unix socket. A disabled v2 is not registered
 * (grpc-js answers UNIMPLEMENTED); a disabled v1 is answered UNIMPLEMENTED by
 * a stand-in whose message names -disable-v1=false. Any :authority is
 * accepted (kube-apiserver ≥1.32 sends "localhost", older ones the
 * percent-encoded socket path).
 */
export class KmsGrpcServer {
  private server: Server | undefined;
  private owned: OwnedSocket | undefined;

  constructor(private readonly opts: KmsGrpcServerOptions, private readonly log: LoggerPort) {}

  isServing(): boolean {
    return this.server !== undefined;
  }

  async start(): Promise<void> {
    const server = new Server({
      'grpc.max_receive_message_length': LIMITS.maxGrpcMessageBytes,
      'grpc.max_send_message_length': LIMITS.maxGrpcMessageBytes,
      // Per connection; beyond it the client waits (kube-apiserver's grpc-go client queues the call).
      'grpc.max_concurrent_streams': MAX_CONCURRENT_STREAMS,
      // Request messages are read a few at a time, and not at all while the plugin is full (readAdmission below).
      interceptors: [readAdmission(PROCESS_IN_FLIGHT, this.log)],
    });
    if (!setStreamWindow(server, STREAM_WINDOW_BYTES)) this.log.warn('cannot set the HTTP/2 stream window of the gRPC server; unread requests may hold more memory');
    if (this.opts.v2) server.addService(KMS_V2_SERVICE, this.opts.v2);
    if (this.opts.v1) server.addService(KMS_V1_SERVICE, this.opts.v1);
    await prepareSocketPath(this.opts.socket, this.opts.forceOverwrite, this.log);
    const bindPath = bindPathFor(this.opts.socket);
    await unlink(bindPath).catch(() => undefined); // our own leftover from a crash with the same pid
    // The socket is created with no group/other access; chmod widens it only if asked.
    const previousUmask = process.umask(0o177);
    try {
      await new Promise<number>((resolve, reject) =>
        server.bindAsync(grpcAddressOf(this.opts.socket, bindPath), ServerCredentials.createInsecure(), (err, port) => (err ? reject(err) : resolve(port))),
      );
    } finally {
      process.umask(previousUmask);
    }
    this.owned = await claimSocket(this.opts.socket, this.opts.socketMode, bindPath);
    this.server = server;
  }

  /** Stops accepting, lets in-flight calls finish for up to graceMs, removes our socket. */
  async stop(graceMs: number): Promise<void> {
    const server = this.server;
    this.server = undefined;
    if (server) {
      await new Promise<void>((resolve) => {
        const force = setTimeout(() => {
          server.forceShutdown();
          resolve();
        }, graceMs);
        server.tryShutdown(() => {
          clearTimeout(force);
          resolve();
        });
      });
    }
    if (this.owned) await releaseSocket(this.owned, this.log);
  }
}

// ---- Admission: what the plugin holds at once, and which calls it reads ----

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

/** One bound for the whole process: every service, version and connection shares the plugin's memory. */
export const PROCESS_IN_FLIGHT = new InFlightLimit();

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

const READ_REFUSED_DETAILS = 'the plugin holds too many requests in flight; refused before reading this one; retry later';

/**
 * Admits a call before its request message is read: the in-flight limit weighs
 * requests only once they are read and decoded, and 2,000 concurrent 92 KB
 * requests over a few connections were all taken in (about 200 MiB) before the
 * first handler could refuse any. While the plugin holds as much as it may, or
 * as many unread calls as it may (MAX_UNREAD_CALLS), a new call is answered
 * RESOURCE_EXHAUSTED at once and its body is discarded as it arrives, so a
 * refused request costs its headers, not its message.
 */
function readAdmission(limit: InFlightLimit, log: LoggerPort, now: () => number = Date.now): ServerInterceptor {
  // grpc-js types an interceptor's result as its own class, but calls only the interface's methods on it.
  return (_method, next) => new AdmittedCall(next, limit, log, now) as unknown as ServerInterceptingCall;
}

/** Where a call is: not admitted yet, admitted with its message unread (counted), read, or ended. */
type ReadState = 'new' | 'reading' | 'read' | 'ended';
type InterceptingServerListener = Parameters<ServerInterceptingCallInterface['start']>[0];

class AdmittedCall implements ServerInterceptingCallInterface {
  private state: ReadState = 'new';

  constructor(
    private readonly next: ServerInterceptingCallInterface,
    private readonly limit: InFlightLimit,
    private readonly log: LoggerPort,
    private readonly now: () => number,
  ) {}

  start(listener: InterceptingServerListener): void {
    this.next.start({
      onReceiveMetadata: (metadata) => listener.onReceiveMetadata(metadata),
      onReceiveMessage: (message) => {
        this.settleRead('read');
        listener.onReceiveMessage(message);
      },
      onReceiveHalfClose: () => listener.onReceiveHalfClose(),
      onCancel: () => {
        this.settleRead('ended');
        listener.onCancel();
      },
    });
  }

  startRead(): void {
    // Only the first read (the request message) is gated; the next one only waits for the half-close.
    if (this.state !== 'new') {
      this.next.startRead();
      return;
    }
    if (!this.limit.tryStartRead()) {
      this.state = 'ended';
      if (this.limit.shouldReport(this.now())) this.log.warn('too much work in flight; answering RESOURCE_EXHAUSTED before reading new requests until some finishes');
      this.next.sendStatus({ code: status.RESOURCE_EXHAUSTED, details: READ_REFUSED_DETAILS, metadata: new Metadata() });
      this.stopUpload();
      return;
    }
    this.state = 'reading';
    this.next.startRead();
  }

  sendStatus(s: Parameters<ServerInterceptingCallInterface['sendStatus']>[0]): void {
    this.settleRead('ended');
    this.next.sendStatus(s);
  }

  /**
   * After the complete answer, RST_STREAM(NO_ERROR) asks the client to stop sending the request (RFC 9113 §8.1):
   * otherwise grpc-js reads and discards the rest of every refused body, and a flood's refused bodies pass through
   * memory all the same. grpc-js keeps the HTTP/2 stream in its base call (the next one here: this interceptor is
   * the server's only one); without it, the body is discarded as before.
   */
  private stopUpload(): void {
    const stream = (this.next as unknown as { stream?: Http2Stream }).stream;
    if (stream && typeof stream.close === 'function' && !stream.closed && !stream.destroyed) stream.close(http2.NGHTTP2_NO_ERROR);
  }

  /** Stops counting the call as unread, exactly once. */
  private settleRead(to: 'read' | 'ended'): void {
    if (this.state === 'reading') this.limit.readDone();
    if (this.state !== 'ended') this.state = to;
  }

  sendMetadata(metadata: Metadata): void {
    this.next.sendMetadata(metadata);
  }
  sendMessage(message: unknown, callback: () => void): void {
    this.next.sendMessage(message, callback);
  }
  getPeer() {
    return this.next.getPeer();
  }
  getDeadline() {
    return this.next.getDeadline();
  }
  getHost() {
    return this.next.getHost();
  }
  getAuthContext() {
    return this.next.getAuthContext();
  }
  getConnectionInfo() {
    return this.next.getConnectionInfo();
  }
  getMetricsRecorder() {
    return this.next.getMetricsRecorder();
  }
}
