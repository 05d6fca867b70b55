import { Agent, createServer, request, type IncomingMessage, type IncomingHttpHeaders, type Server, type ServerResponse } from 'node:http';
import { createServer as createTlsServer } from 'node:https';
import { readFileSync } from 'node:fs';
import type { AddressInfo, Socket } from 'node:net';
import { RealServer, statKey, type RealServerOptions } from './real-server';

/**
 * An HTTP(S) reverse proxy in front of a real OpenBao or Vault that injects the faults a healthy server never
 * shows: error statuses, connection resets, truncated or wrongly shaped bodies, hangs, redirects, servers that
 * refuse batches or fail one item of a batch, and latency. Everything else reaches the real server unchanged.
 * It also counts the requests it sees (faulted ones too) with the counter names of RealServer.stats(), and records
 * each as "METHOD /path?query", the unauthenticated ones an audit log leaves out (sys/health) included.
 */
export type FaultKind = 'status' | 'reset' | 'truncate' | 'wrong-shape' | 'hang' | 'redirect' | 'reject-batch' | 'batch-item-error';

export interface FaultRule {
  /** Regex tested against the path after /v1/ (no query string): the operation, e.g. `^transit/decrypt/`. */
  readonly path: string;
  readonly kind: FaultKind;
  /** status: the status (default 503); reject-batch: default 400; batch-item-error: replaces the real status. */
  readonly status?: number;
  /** The answer's JSON body instead of the usual one for the kind (batch-item-error: the item put in place). */
  readonly body?: unknown;
  /** status: adds Retry-After (seconds). */
  readonly retryAfter?: number;
  /** redirect: the origin the 307 points to (the request's path and query are appended). */
  readonly location?: string;
  /** batch-item-error: which item of batch_results is replaced (default 0). */
  readonly item?: number;
  /** How many requests the rule applies to (default: unlimited); at 0 it is dropped. */
  readonly count?: number;
  /** The rule applies from this moment on (Date.now() milliseconds; default: at once). */
  readonly from?: number;
}

interface ActiveRule extends FaultRule {
  readonly pattern: RegExp;
  remaining: number;
}

interface Answer {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly body: Buffer;
}

/** What a server says for each status when the rule gives no body. */
const USUAL_BODY: Record<number, string> = {
  503: 'Vault is sealed',
  429: 'rate limit quota exceeded',
  412: 'required index state not present',
  500: 'internal error',
  502: 'upstream error',
  403: 'permission denied',
};

/** Valid JSON, every field of the wrong type. */
const WRONG_SHAPE = { data: { ciphertext: 1, plaintext: 2, key_version: 'one', batch_results: {}, latest_version: 'x', keys: [] }, auth: { client_token: 3 } };

export interface FaultProxyOptions {
  /** Serve HTTPS with this certificate and key (PEM files); the upstream stays plain HTTP on loopback. */
  readonly tls?: { readonly certFile: string; readonly keyFile: string };
  readonly latencyMs?: number;
  /** Extra routes outside /v1 (e.g. "POST /_test/seal"), for harnesses in other languages; answered with their JSON. */
  readonly routes?: Record<string, () => Promise<unknown>>;
}

export class FaultProxy {
  url = '';
  /** Every request received since the last take(), as "METHOD /v1/path?query". */
  readonly requests: string[] = [];
  private rules: ActiveRule[] = [];
  private latencyMs: number;
  private counts: Record<string, number> = {};
  private readonly sockets = new Set<Socket>();
  private readonly agent = new Agent({ keepAlive: true });
  private server: Server | undefined;

  constructor(private readonly target: string, private readonly options: FaultProxyOptions = {}) {
    this.latencyMs = options.latencyMs ?? 0;
  }

  static async start(target: string, options: FaultProxyOptions = {}): Promise<FaultProxy> {
    const proxy = new FaultProxy(target, options);
    const handler = (req: IncomingMessage, res: ServerResponse) => void proxy.handle(req, res).catch(() => res.destroy());
    const tls = options.tls;
    const server = tls ? createTlsServer({ cert: readFileSync(tls.certFile), key: readFileSync(tls.keyFile) }, handler) : createServer(handler);
    server.on(tls ? 'secureConnection' : 'connection', (s: Socket) => {
      proxy.sockets.add(s);
      s.on('close', () => proxy.sockets.delete(s));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    proxy.server = server;
    proxy.url = `${tls ? 'https' : 'http'}://127.0.0.1:${(server.address() as AddressInfo).port}`;
    return proxy;
  }

  /** Appends rules; the first rule that applies to a request is used. */
  addFault(rule: FaultRule | FaultRule[]): void {
    for (const r of Array.isArray(rule) ? rule : [rule]) this.rules.push({ ...r, pattern: new RegExp(r.path), remaining: r.count ?? Number.POSITIVE_INFINITY });
  }

  clearFaults(): void {
    this.rules = [];
  }

  /** A delay before every /v1 request is handled. */
  setLatency(ms: number): void {
    this.latencyMs = ms;
  }

  /** Requests seen since resetStats(): `total` and by counter name (transit.encrypt, transit.decrypt.batch, approle.login, …). */
  stats(): Record<string, number> {
    return { ...this.counts };
  }

  resetStats(): void {
    this.counts = {};
  }

  /** The requests recorded so far, forgotten by the proxy. */
  take(): string[] {
    return this.requests.splice(0);
  }

  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    this.agent.destroy();
    await new Promise<void>((r) => (this.server ? this.server.close(() => r()) : r()));
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const body = Buffer.concat(chunks);
    this.requests.push(`${req.method} ${req.url}`);
    const url = new URL(req.url ?? '/', 'http://proxy');
    const route = this.options.routes?.[`${req.method} ${url.pathname}`];
    if (route) return json(res, 200, (await route()) ?? {});
    if (!url.pathname.startsWith('/v1/')) return this.reply(res, await this.forward(req, body));
    const path = url.pathname.slice('/v1/'.length);
    const batch = body.includes('"batch_input"');
    this.count(path, req.method ?? 'GET', batch ? body : undefined);
    if (this.latencyMs > 0) await new Promise((r) => setTimeout(r, this.latencyMs));
    const rule = this.ruleFor(path, batch);
    switch (rule?.kind) {
      case undefined:
        return this.reply(res, await this.forward(req, body));
      case 'status': {
        const status = rule.status ?? 503;
        const headers: Record<string, string> = rule.retryAfter === undefined ? {} : { 'retry-after': String(rule.retryAfter) };
        return json(res, status, rule.body ?? { errors: [USUAL_BODY[status] ?? `injected fault: HTTP ${status}`] }, headers);
      }
      case 'reset': {
        // Headers that promise a whole body, half of one, then the connection is gone.
        const half = '{"data":{"ciphertext":"vault:v1:';
        res.writeHead(200, { 'content-type': 'application/json', 'content-length': String(half.length * 2) });
        res.write(half, () => res.socket?.destroy());
        return;
      }
      case 'hang':
        return; // never answered: the socket stays open until the client gives up or close()
      case 'redirect':
        res.writeHead(307, { location: `${rule.location}${req.url}`, 'content-length': '0' }).end();
        return;
      case 'wrong-shape':
        return json(res, 200, rule.body ?? WRONG_SHAPE);
      case 'reject-batch':
        return json(res, rule.status ?? 400, rule.body ?? { errors: [path.startsWith('transit/decrypt') ? 'missing ciphertext to decrypt' : 'missing plaintext to encrypt'] });
      case 'truncate': {
        // Executed for real; the first half of the answer arrives as a complete body of the right length.
        const answer = await this.forward(req, body);
        return this.reply(res, { ...answer, body: answer.body.subarray(0, answer.body.length >> 1) });
      }
      case 'batch-item-error': {
        const answer = await this.forward(req, body);
        const parsed = JSON.parse(answer.body.toString('utf8'));
        const results = parsed?.data?.batch_results;
        if (Array.isArray(results) && results.length > (rule.item ?? 0)) results[rule.item ?? 0] = rule.body ?? { error: 'injected item error' };
        return this.reply(res, { ...answer, status: rule.status ?? answer.status, body: Buffer.from(JSON.stringify(parsed)) });
      }
    }
  }

  private ruleFor(path: string, batch: boolean): ActiveRule | undefined {
    const now = Date.now();
    const rule = this.rules.find(
      (r) => r.pattern.test(path) && (r.from === undefined || now >= r.from) && (r.kind !== 'reject-batch' || batch),
    );
    if (rule && --rule.remaining <= 0) this.rules = this.rules.filter((r) => r !== rule);
    return rule;
  }

  private count(path: string, method: string, batchBody: Buffer | undefined): void {
    const key = statKey(path, method === 'GET' ? 'read' : method === 'DELETE' ? 'delete' : 'update');
    const add = (k: string, n = 1) => (this.counts[k] = (this.counts[k] ?? 0) + n);
    add('total');
    add(key);
    if (!batchBody) return;
    const items = JSON.parse(batchBody.toString('utf8')).batch_input;
    if (!Array.isArray(items)) return;
    add(`${key}.batch`);
    add('transit.batch_items', items.length);
  }

  private forward(req: IncomingMessage, body: Buffer): Promise<Answer> {
    const upstream = new URL(this.target);
    return new Promise((resolve, reject) => {
      const out = request(
        { host: upstream.hostname, port: upstream.port, method: req.method, path: req.url, agent: this.agent, headers: { ...req.headers, host: upstream.host, 'content-length': String(body.length) } },
        (answer) => {
          const chunks: Buffer[] = [];
          answer.on('data', (c: Buffer) => chunks.push(c));
          answer.on('end', () => resolve({ status: answer.statusCode ?? 502, headers: answer.headers, body: Buffer.concat(chunks) }));
          answer.on('error', reject);
        },
      );
      out.on('error', reject);
      out.end(body);
    });
  }

  private reply(res: ServerResponse, answer: Answer): void {
    const { 'transfer-encoding': _chunked, connection: _connection, 'keep-alive': _keepAlive, ...headers } = answer.headers;
    res.writeHead(answer.status, { ...headers, 'content-length': String(answer.body.length) }).end(answer.body);
  }
}

function json(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(text)), ...headers }).end(text);
}

/**
 * Real OpenBao (or Vault) with a FaultProxy in front: `url` is the proxy's, which the plugin is pointed at; the
 * test's own admin calls (`bao`) go straight to the server. Requests are counted at the proxy.
 */
export class ProxiedServer {
  private constructor(readonly bao: RealServer, readonly proxy: FaultProxy) {}

  static async start(server: RealServerOptions = {}, proxy: FaultProxyOptions = {}): Promise<ProxiedServer> {
    const bao = await RealServer.start(server);
    try {
      return new ProxiedServer(bao, await FaultProxy.start(bao.url, proxy));
    } catch (e) {
      await bao.close();
      throw e;
    }
  }

  get url(): string {
    return this.proxy.url;
  }
  get rootToken(): string {
    return this.bao.rootToken;
  }
  get kmsToken(): string {
    return this.bao.kmsToken;
  }
  get roleId(): string {
    return this.bao.roleId;
  }
  get secretId(): string {
    return this.bao.secretId;
  }

  /** Unsealed, with a fresh `kms` key and credentials (RealServer.reset), no faults, no latency, counters at zero. */
  async reset(): Promise<void> {
    // A test that failed while the server was sealed must not fail every test after it.
    if ((await this.bao.api('GET', 'sys/seal-status')).json?.sealed) await this.bao.unseal();
    await this.bao.reset();
    this.proxy.clearFaults();
    this.proxy.setLatency(0);
    this.proxy.resetStats();
  }

  seal(): Promise<void> {
    return this.bao.seal();
  }
  unseal(): Promise<void> {
    return this.bao.unseal();
  }
  rotateKey(): Promise<number> {
    return this.bao.rotateKey();
  }
  addFault(rule: FaultRule | FaultRule[]): void {
    this.proxy.addFault(rule);
  }
  clearFaults(): void {
    this.proxy.clearFaults();
  }
  setLatency(ms: number): void {
    this.proxy.setLatency(ms);
  }
  stats(): Record<string, number> {
    return this.proxy.stats();
  }
  resetStats(): void {
    this.proxy.resetStats();
  }

  async close(): Promise<void> {
    await this.proxy.close();
    await this.bao.close();
  }
}
