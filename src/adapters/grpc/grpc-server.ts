import { unlink } from 'node:fs/promises';
import { Server, ServerCredentials } from '@grpc/grpc-js';
import { LIMITS } from '../../domain/model/limits';
import type { LoggerPort } from '../../ports/logger.port';
import { PROCESS_IN_FLIGHT } from './in-flight-limit';
import { readAdmission } from './read-admission';
import { KMS_V1_SERVICE, KMS_V2_SERVICE, type KmsV1Handlers, type KmsV2Handlers } from './kms-messages';
import { bindPathFor, claimSocket, grpcAddressOf, prepareSocketPath, releaseSocket, type OwnedSocket, type SocketLocation } from './socket-file';

/**
 * Calls one connection may have open at once: above the 200 concurrent Decrypts of a kube-apiserver cold start (so
 * identical ones still share one Vault request), low enough that one connection cannot flood memory with 256 KiB
 * messages. See in-flight-limit.ts for the process-wide bound.
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
      // Request messages are read a few at a time, and not at all while the plugin is full (in-flight-limit.ts).
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
