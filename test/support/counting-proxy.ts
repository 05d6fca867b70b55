import { createServer, request as httpRequest, type Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

/**
 * A plain-HTTP reverse proxy in front of a Vault or OpenBao server that records every request passing through it
 * (method and path), including the ones an audit log leaves out (sys/health and other unauthenticated endpoints).
 * Point the plugin at `url` to count everything it sends.
 */
export class CountingProxy {
  readonly requests: string[] = [];
  private readonly sockets = new Set<Socket>();

  private constructor(private readonly server: Server, readonly url: string) {}

  static async start(target: string): Promise<CountingProxy> {
    const upstream = new URL(target);
    let proxy: CountingProxy | undefined;
    const server = createServer((req, res) => {
      proxy?.requests.push(`${req.method} ${req.url}`);
      const out = httpRequest(
        { host: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers: { ...req.headers, host: upstream.host } },
        (answer) => {
          res.writeHead(answer.statusCode ?? 502, answer.headers);
          answer.pipe(res);
        },
      );
      out.on('error', () => res.destroy());
      req.pipe(out);
    });
    server.on('connection', (s) => {
      proxy?.sockets.add(s);
      s.on('close', () => proxy?.sockets.delete(s));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    proxy = new CountingProxy(server, `http://127.0.0.1:${(server.address() as AddressInfo).port}`);
    return proxy;
  }

  /** Forgets what was counted so far; returns it. */
  take(): string[] {
    return this.requests.splice(0);
  }

  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((r) => this.server.close(() => r()));
  }
}
