import { connect, constants, type ClientHttp2Session, type IncomingHttpHeaders } from 'node:http2';
import { connect as netConnect } from 'node:net';
import { EMPTY, decodeMessage, encodeMessage } from './kms-wire';

/**
 * The load generator's gRPC client, the same for every target: gRPC unary
 * calls framed by hand on node:http2 sessions over the unix socket (h2c, as
 * kube-apiserver dials), several independent HTTP/2 connections used
 * round-robin, ":authority" localhost, a grpc-timeout on every call.
 *
 * It is deliberately thinner than grpc-js: on a machine with few CPUs the load
 * generator shares the CPUs with the process it measures, so every
 * microsecond it spends per call is taken from the target. The wire format is
 * plain gRPC (5-byte length prefix, grpc-status in the trailers), which both
 * grpc-js and grpc-go servers speak.
 */
const UID = '6f1c2d3e-4a5b-4c6d-8e7f-90a1b2c3d4e5';

export interface StatusReply {
  readonly version: string;
  readonly healthz: string;
  readonly keyId: string;
}

export class GrpcCallError extends Error {
  constructor(readonly code: number, readonly details: string) {
    super(`gRPC status ${code}: ${details}`);
  }
}

export class KmsLoadClient {
  private readonly sessions: ClientHttp2Session[] = [];
  private next = 0;

  constructor(private readonly socketPath: string, private readonly channels: number, private readonly timeoutMs: number) {}

  /** Opens every connection (so connection set-up is never inside a measurement). */
  async connect(timeoutMs = 10_000): Promise<void> {
    for (let i = 0; i < this.channels; i++) {
      const session = connect('http://localhost', {
        createConnection: () => netConnect(this.socketPath),
        settings: { enablePush: false, initialWindowSize: 1 << 20 },
      });
      this.sessions.push(session);
      session.on('error', () => undefined); // surfaced per call
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`HTTP/2 connection to ${this.socketPath} not up within ${timeoutMs} ms`)), timeoutMs);
        session.once('connect', () => {
          clearTimeout(timer);
          resolve();
        });
        session.once('error', (e) => {
          clearTimeout(timer);
          reject(e);
        });
      });
    }
  }

  private call(path: string, message: Buffer, timeoutMs = this.timeoutMs): Promise<Map<number, Buffer>> {
    const session = this.sessions[this.next];
    if (!session) return Promise.reject(new Error('not connected'));
    this.next = (this.next + 1) % this.sessions.length;
    const frame = Buffer.allocUnsafe(5 + message.length);
    frame[0] = 0;
    frame.writeUInt32BE(message.length, 1);
    message.copy(frame, 5);
    return new Promise((resolve, reject) => {
      const req = session.request({
        ':method': 'POST',
        ':path': path,
        ':authority': 'localhost',
        'content-type': 'application/grpc',
        te: 'trailers',
        'grpc-timeout': `${timeoutMs}m`,
      });
      const chunks: Buffer[] = [];
      let status: string | undefined;
      let details = '';
      const take = (h: IncomingHttpHeaders) => {
        if (h['grpc-status'] !== undefined) {
          status = String(h['grpc-status']);
          details = decodeURIComponent(String(h['grpc-message'] ?? ''));
        }
      };
      // Client-side bound as well, in case a server never answers.
      const timer = setTimeout(() => req.close(constants.NGHTTP2_CANCEL), timeoutMs + 1000);
      req.on('response', take); // trailers-only responses carry grpc-status in the headers
      req.on('trailers', take);
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('error', () => undefined); // reported on close
      req.on('close', () => {
        clearTimeout(timer);
        if (status === undefined) return reject(new GrpcCallError(14, `stream closed without a gRPC status (HTTP/2 code ${req.rstCode})`));
        if (status !== '0') return reject(new GrpcCallError(Number(status), details));
        const body = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks);
        if (body.length < 5) return resolve(new Map());
        const len = body.readUInt32BE(1);
        try {
          resolve(decodeMessage(body.subarray(5, 5 + len)));
        } catch (e) {
          reject(e);
        }
      });
      req.end(frame);
    });
  }

  async status(timeoutMs?: number): Promise<StatusReply> {
    const m = await this.call('/v2.KeyManagementService/Status', EMPTY, timeoutMs);
    return { version: str(m.get(1)), healthz: str(m.get(2)), keyId: str(m.get(3)) };
  }

  async encrypt(plaintext: Buffer): Promise<{ ciphertext: Buffer; keyId: string }> {
    const m = await this.call('/v2.KeyManagementService/Encrypt', encodeMessage([[1, plaintext], [2, UID]]));
    return { ciphertext: m.get(1) ?? EMPTY, keyId: str(m.get(2)) };
  }

  async decrypt(ciphertext: Buffer, keyId: string): Promise<Buffer> {
    const m = await this.call('/v2.KeyManagementService/Decrypt', encodeMessage([[1, ciphertext], [2, UID], [3, keyId]]));
    return m.get(1) ?? EMPTY;
  }

  async v1Encrypt(plain: Buffer): Promise<Buffer> {
    const m = await this.call('/v1beta1.KeyManagementService/Encrypt', encodeMessage([[1, 'v1beta1'], [2, plain]]));
    return m.get(1) ?? EMPTY;
  }

  async v1Decrypt(cipher: Buffer): Promise<Buffer> {
    const m = await this.call('/v1beta1.KeyManagementService/Decrypt', encodeMessage([[1, 'v1beta1'], [2, cipher]]));
    return m.get(1) ?? EMPTY;
  }

  close(): void {
    for (const s of this.sessions) s.destroy();
    this.sessions.length = 0;
  }
}

function str(b: Buffer | undefined): string {
  return b ? b.toString('utf8') : '';
}
