import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/** Where the probes and metrics are served, the health adapter's own setting. */
export interface ListenAddress {
  /** Empty string means every interface, as Go's ":8080" does. */
  readonly host: string;
  readonly port: number;
}

export interface HealthSources {
  /** The process and its gRPC server are serving. No Vault call. */
  live(): boolean;
  /** The last background Vault check, from memory. No Vault call. */
  health(): { healthy: boolean; reason: string };
  /** Prometheus exposition, if metrics are wired. */
  metrics?(): Promise<{ contentType: string; body: string }>;
}

/**
 * /live and /health answer different questions: "restart me?" and "route
 * traffic to me?". Neither calls Vault, so no probe rate adds Vault load, and a
 * Vault outage never makes the kubelet kill the plugin.
 */
export class HealthHttpServer {
  private server: Server | undefined;

  constructor(private readonly address: ListenAddress, private readonly sources: HealthSources) {}

  async start(): Promise<AddressInfo> {
    const server = createServer((req, res) => void this.handle(req, res));
    server.keepAliveTimeout = 5000;
    server.headersTimeout = 3000;
    server.requestTimeout = 5000;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen({ host: this.address.host || undefined, port: this.address.port }, () => {
        server.off('error', reject);
        resolve();
      });
    });
    this.server = server;
    return server.address() as AddressInfo;
  }

  async stop(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    if (!server) return;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' && req.method !== 'HEAD') return send(res, 405, 'method not allowed\n');
    if (path === '/live' || path === '/livez') {
      return this.sources.live() ? send(res, 200, 'ok\n') : send(res, 503, 'grpc server is not serving\n');
    }
    if (path === '/health' || path === '/healthz' || path === '/readyz') {
      const h = this.sources.health();
      return h.healthy ? send(res, 200, 'ok\n') : send(res, 503, `${h.reason}\n`);
    }
    if (path === '/metrics' && this.sources.metrics) {
      try {
        const m = await this.sources.metrics();
        return send(res, 200, m.body, m.contentType);
      } catch {
        return send(res, 500, 'metrics unavailable\n');
      }
    }
    return send(res, 404, 'not found\n');
  }
}

function send(res: ServerResponse, status: number, body: string, contentType = 'text/plain; charset=utf-8'): void {
  res.writeHead(status, { 'content-type': contentType, 'cache-control': 'no-store' });
  res.end(res.req.method === 'HEAD' ? undefined : body);
}
