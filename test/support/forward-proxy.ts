import { createServer, type IncomingMessage, type Server } from 'node:http';
import { connect, type AddressInfo, type Socket } from 'node:net';

/** One connection the proxy accepted, and what it was asked for. */
export interface ProxiedRequest {
  /** "CONNECT" for a tunnel, else the method of a plain forward request. */
  readonly method: string;
  /** host:port of a CONNECT, or the absolute URL of a forward request. */
  readonly target: string;
  /** Whether the client sent Proxy-Authorization. */
  readonly authorized: boolean;
}

export interface ForwardProxyOptions {
  /** Answer every request with this status instead of tunnelling (407: "Proxy Authentication Required"). */
  readonly refuseWith?: number;
}

/**
 * A real HTTP forward proxy on loopback for the proxy attacks: it counts every
 * TCP connection it accepts, records every request, and either tunnels CONNECT
 * to the requested loopback host:port or refuses everything with one status
 * (407 to play a proxy that does not accept the credentials). Only loopback
 * targets are tunnelled: nothing leaves the machine.
 */
export class ForwardProxy {
  readonly requests: ProxiedRequest[] = [];
  /** TCP connections accepted, whatever was sent on them. */
  connections = 0;
  url = '';
  private readonly sockets = new Set<Socket>();
  private server: Server | undefined;

  constructor(private readonly opts: ForwardProxyOptions = {}) {}

  async start(): Promise<this> {
    const server = createServer((req, res) => {
      this.record(req, req.url ?? '');
      res.writeHead(this.opts.refuseWith ?? 502, this.refusalHeaders()).end();
    });
    server.on('connection', (s: Socket) => {
      this.connections++;
      this.sockets.add(s);
      s.on('close', () => this.sockets.delete(s));
    });
    server.on('connect', (req: IncomingMessage, client: Socket, head: Buffer) => {
      this.record(req, req.url ?? '');
      client.on('error', () => {});
      const refuse = (status: number, reason: string) => {
        const headers = Object.entries(this.refusalHeaders(status)).map(([k, v]) => `${k}: ${v}\r\n`).join('');
        client.end(`HTTP/1.1 ${status} ${reason}\r\n${headers}content-length: 0\r\n\r\n`);
      };
      if (this.opts.refuseWith !== undefined) return refuse(this.opts.refuseWith, this.opts.refuseWith === 407 ? 'Proxy Authentication Required' : 'Refused');
      const m = /^(127\.\d+\.\d+\.\d+|localhost):(\d+)$/.exec(req.url ?? '');
      if (!m) return refuse(502, 'Bad Gateway');
      const upstream = connect(Number(m[2]), m[1], () => {
        client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
        upstream.write(head);
        upstream.pipe(client);
        client.pipe(upstream);
      });
      this.sockets.add(upstream);
      upstream.on('close', () => this.sockets.delete(upstream));
      upstream.on('error', () => client.destroy());
      client.on('close', () => upstream.destroy());
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    this.server = server;
    this.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    return this;
  }

  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    this.server?.closeAllConnections();
    await new Promise<void>((r) => (this.server ? this.server.close(() => r()) : r()));
  }

  private record(req: IncomingMessage, target: string): void {
    this.requests.push({ method: req.method ?? '', target, authorized: req.headers['proxy-authorization'] !== undefined });
  }

  private refusalHeaders(status = this.opts.refuseWith): Record<string, string> {
    return status === 407 ? { 'proxy-authenticate': 'Basic realm="test proxy"' } : {};
  }
}
