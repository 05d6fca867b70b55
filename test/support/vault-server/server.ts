/**
 * startVaultTestServer(): the HTTP(S) listener, the fault/latency layer in
 * front of the emulated core, and the programmatic API used in-process.
 */
import { readFileSync } from 'node:fs';
import { createServer as createHttpServer, IncomingMessage, Server, ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { handleControl } from './control-api';
import type { Flavor, Reply } from './envelope';
import { errorReply } from './envelope';
import { FaultRule, rejectBatchReply, standInReply, statusFaultReply, truncatedReply, wrongShapeReply } from './faults';
import { IncomingV1, executeV1, parseV1 } from './request-pipeline';
import type { VaultState } from './vault-state';

const MAX_BODY_BYTES = 32 * 1024 * 1024;
const V1_PREFIX = '/v1/';
const CONTROL_PREFIX = '/_test/';
const BEARER_PREFIX = 'Bearer ';

export interface TlsMaterial {
  /** PEM text, or a path to a PEM file. */
  readonly cert: string;
  readonly key: string;
}

function pem(value: string): string {
  return value.includes('-----BEGIN') ? value : readFileSync(value, 'utf8');
}

function readBody(req: IncomingMessage): Promise<string | null> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let tooLarge = false;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_BODY_BYTES) tooLarge = true;
      else chunks.push(chunk);
    });
    req.on('end', () => resolve(tooLarge ? null : chunks.length === 1 ? chunks[0]!.toString('utf8') : Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

function send(res: ServerResponse, reply: Reply, namespace: string | undefined): void {
  const headers: Record<string, string> = { 'Cache-Control': 'no-store' };
  if (reply.body.length > 0) headers['Content-Type'] = 'application/json';
  // An explicit length avoids chunked encoding, as Go's server does for small
  // bodies; 204 must not carry one.
  if (reply.status !== 204) headers['Content-Length'] = String(Buffer.byteLength(reply.body));
  if (namespace) headers['X-Vault-Namespace'] = namespace;
  Object.assign(headers, reply.headers);
  res.writeHead(reply.status, headers);
  res.end(reply.body);
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function tokenFrom(req: IncomingMessage): string {
  const header = req.headers['x-vault-token'];
  if (typeof header === 'string' && header !== '') return header;
  const auth = req.headers.authorization;
  if (typeof auth === 'string' && auth.startsWith(BEARER_PREFIX)) return auth.slice(BEARER_PREFIX.length).trim();
  return '';
}

/** The HTTP side of one server: routing between /v1, /_test and everything else. */
export class VaultHttpFrontend {
  /** Requests held open by `hang` faults; destroyed on close. */
  private readonly hanging = new Set<ServerResponse>();

  constructor(private readonly state: VaultState) {}

  readonly listener = (req: IncomingMessage, res: ServerResponse): void => {
    this.route(req, res).catch((err: Error) => {
      if (!res.headersSent) send(res, errorReply(500, err.message), undefined);
      else res.destroy();
    });
  };

  destroyHanging(): void {
    for (const res of this.hanging) res.destroy();
    this.hanging.clear();
  }

  private async route(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    const pathname = q < 0 ? url : url.slice(0, q);
    const rawBody = await readBody(req);
    if (rawBody === null) return send(res, errorReply(413, 'http: request body too large'), undefined);
    if (pathname.startsWith(V1_PREFIX)) {
      const query = new URLSearchParams(q < 0 ? '' : url.slice(q + 1));
      return this.serveV1(req, res, pathname.slice(V1_PREFIX.length), query, rawBody);
    }
    if (pathname.startsWith(CONTROL_PREFIX)) {
      const route = pathname.slice(CONTROL_PREFIX.length);
      return send(res, handleControl(this.state, req.method ?? 'GET', route, rawBody), undefined);
    }
    send(res, errorReply(404), undefined);
  }

  private async serveV1(req: IncomingMessage, res: ServerResponse, rawPath: string, query: URLSearchParams, rawBody: string): Promise<void> {
    let path = rawPath;
    try {
      path = decodeURIComponent(rawPath);
    } catch {
      // Keep the raw path; routing will answer 404 for it.
    }
    const incoming: IncomingV1 = { method: req.method ?? 'GET', path, query, rawBody, token: tokenFrom(req) };
    const parsed = parseV1(this.state, incoming);
    if (this.state.latencyMs > 0) await delay(this.state.latencyMs);
    const namespace = req.headers['x-vault-namespace'];
    const ns = typeof namespace === 'string' ? namespace : undefined;
    const fault = this.state.faults.take(path, rawBody);
    if (fault) return this.applyFault(fault, req, res, incoming, parsed, ns);
    send(res, parsed.ok ? executeV1(this.state, incoming, parsed) : parsed.reply, ns);
  }

  private applyFault(
    rule: FaultRule,
    req: IncomingMessage,
    res: ServerResponse,
    incoming: IncomingV1,
    parsed: ReturnType<typeof parseV1>,
    ns: string | undefined,
  ): void {
    const flavor = this.state.flavor;
    switch (rule.kind) {
      case 'status':
        return send(res, statusFaultReply(rule, incoming.path), ns);
      case 'reject-batch':
        return send(res, rejectBatchReply(rule, incoming.path), ns);
      case 'wrong-shape':
        return send(res, wrongShapeReply(rule, flavor), ns);
      case 'redirect': {
        const base = rule.location!.replace(/\/+$/, '');
        return send(res, { status: 307, body: '', headers: { Location: base + (req.url ?? '/') } }, ns);
      }
      case 'truncate': {
        // The real request runs (side effects included); only its answer is cut in half.
        const real = parsed.ok ? executeV1(this.state, incoming, parsed) : parsed.reply;
        return send(res, truncatedReply(real, flavor), ns);
      }
      case 'reset': {
        // Promise a full body, deliver half, then kill the connection.
        const full = standInReply(flavor).body;
        res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': String(Buffer.byteLength(full)) });
        res.write(full.slice(0, Math.floor(full.length / 2)), () => res.socket?.destroy());
        return;
      }
      case 'hang':
        this.hanging.add(res);
        res.on('close', () => this.hanging.delete(res));
        return;
    }
  }
}

export interface ListenOptions {
  readonly port: number;
  readonly host: string;
  readonly tls?: TlsMaterial;
}

/** Starts listening; resolves with the server and its base URL. */
export async function listen(frontend: VaultHttpFrontend, options: ListenOptions): Promise<{ server: Server; url: string }> {
  const server: Server = options.tls
    ? createHttpsServer({ cert: pem(options.tls.cert), key: pem(options.tls.key) }, frontend.listener)
    : createHttpServer(frontend.listener);
  // Long keep-alive so benchmark clients reuse connections instead of reconnecting.
  server.keepAliveTimeout = 65_000;
  server.headersTimeout = 66_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address() as AddressInfo;
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  return { server, url: `${options.tls ? 'https' : 'http'}://${host}:${address.port}` };
}

export type { Flavor };
