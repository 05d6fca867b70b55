import { constants as http2, type Http2Stream } from 'node:http2';
import { Metadata, status, type ServerInterceptingCall, type ServerInterceptingCallInterface, type ServerInterceptor } from '@grpc/grpc-js';
import type { LoggerPort } from '../../ports/logger.port';
import type { InFlightLimit } from './in-flight-limit';

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
export function readAdmission(limit: InFlightLimit, log: LoggerPort, now: () => number = Date.now): ServerInterceptor {
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
