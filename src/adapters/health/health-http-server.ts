import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/** Where the probes and metrics are served, the health adapter's own setting. */
interface ListenAddress {
  /** Empty string means every interface, as Go's ":8080" does. */
  readonly host: string;
  readonly port: number;
}

/**
 * The health port is plain HTTP on every interface by default (as in the Go
 * plugin): anyone who reaches the node can open connections to it. Probes and
 * one scraper need a handful; everything else waits at most a few seconds
 * (checked every second) and is dropped.
 */
const MAX_HEALTH_CONNECTIONS = 32;
const HEADERS_TIMEOUT_MS = 3000;
const REQUEST_TIMEOUT_MS = 5000;
const KEEP_ALIVE_TIMEOUT_MS = 5000;

interface HealthSources {
  /** The process and its gRPC server are serving. No Vault call. */
  live(): boolean;
  /** The last background Vault check, from memory. No Vault call. */
  health(): { healthy: boolean; reason: string; addresses?: readonly { address: string; ok: boolean; detail: string }[] };
  /** Prometheus exposition, if metrics are wired. */
  metrics?(): Promise<{ contentType: string; body: string }>;
}

/**
 * /live and /health answer different questions: "restart me?" and "route
 * traffic to me?". Neither calls Vault, so no probe rate adds Vault load, and a
 * Vault outage never makes the kubelet kill the plugin.
 */
/** Waits between bind attempts while the port is taken: 1 s, doubling, at most BIND_RETRY_MAX_MS. */
const BIND_RETRY_MIN_MS = 1000;
const BIND_RETRY_MAX_MS = 10_000;

/** What happens to the bind attempts of startRetrying, for the log and the metrics. */
interface BindObserver {
  /** An attempt failed (EADDRINUSE: another process holds the port). */
  failed(error: NodeJS.ErrnoException, attempt: number, nextRetryMs: number): void;
  /** Listening, after `failedAttempts` failed attempts. */
  bound(address: AddressInfo, failedAttempts: number): void;
}

export class HealthHttpServer {
  private server: Server | undefined;
  private retryTimer: NodeJS.Timeout | undefined;
  private stopped = false;

  constructor(private readonly address: ListenAddress, private readonly sources: HealthSources) {}

  /**
   * Binds the port, and keeps trying with backoff for as long as it fails: the
   * health endpoints matter to the kubelet's probes, the KMS socket matters to
   * kube-apiserver, so a port another process took first (any local user can
   * bind 127.0.0.1:8080 before the plugin starts) must never take the socket
   * down. Never rejects; the observer hears every outcome.
   */
  startRetrying(observer: BindObserver): void {
    let failures = 0;
    const attempt = () => {
      this.retryTimer = undefined;
      if (this.stopped) return;
      this.start().then(
        (addr) => {
          if (this.stopped) void this.stop();
          else observer.bound(addr, failures);
        },
        (e: NodeJS.ErrnoException) => {
          if (this.stopped) return;
          failures++;
          const waitMs = Math.min(BIND_RETRY_MAX_MS, BIND_RETRY_MIN_MS * 2 ** Math.min(failures - 1, 10));
          observer.failed(e, failures, waitMs);
          this.retryTimer = setTimeout(attempt, waitMs);
        },
      );
    };
    attempt();
  }

  async start(): Promise<AddressInfo> {
    const server = createServer(
      { headersTimeout: HEADERS_TIMEOUT_MS, requestTimeout: REQUEST_TIMEOUT_MS, keepAliveTimeout: KEEP_ALIVE_TIMEOUT_MS, connectionsCheckingInterval: 1000 },
      (req, res) => void this.handle(req, res),
    );
    // Connections beyond the bound are closed as soon as they are accepted, so a flood of
    // slow clients holds at most this many file descriptors, never the ones gRPC needs.
    server.maxConnections = MAX_HEALTH_CONNECTIONS;
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
    this.stopped = true;
    if (this.retryTimer) clearTimeout(this.retryTimer);
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
      // ?verbose adds one line per Vault address (its last check), as kube-apiserver's /readyz?verbose does per check.
      const verbose = /[?&]verbose(=|&|$)/.test(req.url ?? '') ? (h.addresses ?? []).map((a) => `vault ${a.address}: ${a.ok ? 'ok' : 'failed'} (${a.detail})\n`).join('') : '';
      return h.healthy ? send(res, 200, `ok\n${verbose}`) : send(res, 503, `${h.reason}\n${verbose}`);
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
