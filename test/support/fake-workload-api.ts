import { Server, ServerCredentials, status, type sendUnaryData, type ServerUnaryCall } from '@grpc/grpc-js';
import { JWTSVIDRequest, JWTSVIDResponse, type IJWTSVIDResponse } from '../../src/adapters/spiffe/generated/workload-proto';

/** What the hostile agent answers to one FetchJWTSVID: SVIDs, or a gRPC error with details of its choosing. */
export type FetchAnswer = { readonly svids: IJWTSVIDResponse['svids'] } | { readonly code: status; readonly details: string };

/**
 * A SPIFFE Workload API server for hostile behaviour a real SPIRE agent cannot
 * be made to show (60,000 identities, terminal escapes in its error details).
 * It serves FetchJWTSVID on a unix socket with the wire format of the real
 * API (the same generated messages the plugin decodes); the happy path is
 * tested against real SPIRE (test/support/spire.ts).
 */
export class FakeWorkloadApi {
  readonly requests: JWTSVIDRequest[] = [];
  private readonly server = new Server();

  constructor(private readonly answer: (req: JWTSVIDRequest) => FetchAnswer) {}

  /** Serves on the unix socket at `socketPath`, or on a free loopback TCP port with 'tcp'; resolves to the endpoint URI. */
  async start(socketPath: string | 'tcp'): Promise<string> {
    this.server.addService(
      {
        FetchJWTSVID: {
          path: '/SpiffeWorkloadAPI/FetchJWTSVID',
          requestStream: false,
          responseStream: false,
          requestSerialize: (r: JWTSVIDRequest) => Buffer.from(JWTSVIDRequest.encode(r).finish()),
          requestDeserialize: (b: Buffer) => JWTSVIDRequest.decode(b),
          responseSerialize: (r: IJWTSVIDResponse) => Buffer.from(JWTSVIDResponse.encode(r).finish()),
          responseDeserialize: (b: Buffer) => JWTSVIDResponse.decode(b),
        },
      },
      {
        FetchJWTSVID: (call: ServerUnaryCall<JWTSVIDRequest, IJWTSVIDResponse>, callback: sendUnaryData<IJWTSVIDResponse>) => {
          this.requests.push(call.request);
          const a = this.answer(call.request);
          if ('code' in a) callback({ code: a.code, details: a.details });
          else callback(null, { svids: a.svids });
        },
      },
    );
    const target = socketPath === 'tcp' ? '127.0.0.1:0' : `unix://${socketPath}`;
    const port = await new Promise<number>((resolve, reject) => this.server.bindAsync(target, ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))));
    return socketPath === 'tcp' ? `tcp://127.0.0.1:${port}` : target;
  }

  async close(): Promise<void> {
    await new Promise<void>((r) => this.server.tryShutdown(() => r()));
    this.server.forceShutdown();
  }
}
