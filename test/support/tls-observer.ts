import { readFileSync } from 'node:fs';
import { connect as tlsConnect, createServer, type Server, type TLSSocket } from 'node:tls';
import type { Socket } from 'node:net';

/** One TLS connection a client opened: the client certificate it presented (subject CN), and the requests it carried. */
export interface ObservedConnection {
  readonly clientCertCn: string | undefined;
  readonly requests: string[];
}

/**
 * A TLS terminator in front of a real Vault/OpenBao HTTPS listener that
 * records, per client connection, whether a client certificate was presented
 * and which HTTP requests (method and path) went over it; bytes are passed on
 * unchanged over a new TLS connection to the server. A client that presented a
 * certificate the test knows (by CN, in `identities`) is represented upstream
 * with that same certificate and key, so cert auth still works through it.
 * Only for tests that must see which connection carried what.
 */
export class TlsObserver {
  readonly connections: ObservedConnection[] = [];
  private server: Server | undefined;
  private readonly sockets = new Set<Socket>();

  constructor(
    private readonly tls: { certFile: string; keyFile: string; caFile: string },
    private readonly target: URL,
    private readonly identities: Record<string, { certFile: string; keyFile: string }> = {},
  ) {}

  async start(): Promise<string> {
    const server = createServer(
      { cert: readFileSync(this.tls.certFile), key: readFileSync(this.tls.keyFile), requestCert: true, rejectUnauthorized: false },
      (client: TLSSocket) => {
        const cert = client.getPeerCertificate();
        const seen: ObservedConnection = { clientCertCn: cert && cert.subject ? String(cert.subject.CN) : undefined, requests: [] };
        this.connections.push(seen);
        const identity = seen.clientCertCn === undefined ? undefined : this.identities[seen.clientCertCn];
        const upstream = tlsConnect({
          host: this.target.hostname,
          port: Number(this.target.port),
          ca: readFileSync(this.tls.caFile),
          servername: 'localhost',
          ...(identity ? { cert: readFileSync(identity.certFile), key: readFileSync(identity.keyFile) } : {}),
        });
        this.track(upstream);
        for (const s of [client, upstream]) {
          s.on('error', () => {
            client.destroy();
            upstream.destroy();
          });
        }
        client.on('data', (chunk: Buffer) => {
          for (const m of chunk.toString('latin1').matchAll(/^(GET|POST|PUT|DELETE) (\S+) HTTP\/1\.1\r$/gm)) seen.requests.push(`${m[1]} ${m[2]}`);
        });
        client.pipe(upstream).pipe(client);
      },
    );
    // Tracked from the TCP accept on, not from the end of the TLS handshake: a connection still in
    // its handshake when stop() runs would otherwise keep server.close() waiting forever.
    server.on('connection', (raw: Socket) => this.track(raw));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    this.server = server;
    return `https://127.0.0.1:${(server.address() as { port: number }).port}`;
  }

  /** Stops accepting first, then drops every connection, so none can slip in between. */
  async stop(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    const closed = server ? new Promise<void>((r) => server.close(() => r())) : Promise.resolve();
    for (const s of this.sockets) s.destroy();
    await closed;
  }

  private track(s: Socket): void {
    this.sockets.add(s);
    s.on('close', () => this.sockets.delete(s));
  }
}
