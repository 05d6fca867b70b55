import type { Dispatcher } from 'undici';
import { Agent, ProxyAgent } from './undici-dispatchers';
import { abortReason, onAbort, type CallContext } from '../../ports/call-context';
import { OUTSIDE_ITEM_MAX_CHARS, outsideText } from '../../domain/model/outside-text';
import { KmsError } from '../../ports/errors';
import type { ClockPort } from '../../ports/clock.port';
import type { SecretSink } from '../../ports/logger.port';
import type { VaultClientSettings } from './vault-settings';
import { buildTlsOptions } from './tls-options';
import { describeNetworkError, isRequestSizeRefusal, isRetryableStatus, networkReasonOf } from './vault-errors';
import { proxyFor, proxyRefusal } from './proxy';

export interface VaultResponse {
  readonly status: number;
  /** Parsed JSON body, or undefined for an empty body. */
  readonly body: unknown;
}

interface RequestOptions {
  /** Send X-Vault-Token (false for logins). */
  readonly authenticated?: boolean;
  /**
   * Send no X-Vault-Namespace: for sys/health, which only the root namespace
   * serves (OpenBao answers 400 to it inside a namespace).
   */
  readonly rootNamespace?: boolean;
}

/** Sees every HTTP attempt: a closed-set operation name, "2xx"/"4xx"/"5xx"/"error", seconds. */
/** outcome is the metric label (2xx, 4xx, 5xx, error); status is the HTTP status when Vault answered. */
export type VaultRequestObserver = (operation: string, outcome: string, seconds: number, status?: number) => void;

/**
 * How much of a Vault answer is read: this much plus twice the size of what
 * was sent. A Transit answer is about the size of its request (ciphertext in,
 * base64 plaintext out, or the reverse), and every other answer (token
 * lookup, key metadata) is a few KiB; so a batch of 128 of kube-apiserver's
 * 32-byte data keys (about 16 KiB) stays far below the limit and even the
 * largest allowed batch (128 plaintexts of 64 KiB) fits. A hostile or broken
 * server sending more fails that request instead of growing the process
 * toward its memory limit.
 */
export const MAX_VAULT_RESPONSE_BASE_BYTES = 1024 * 1024;

function maxResponseBytes(requestBytes: number): number {
  return MAX_VAULT_RESPONSE_BASE_BYTES + 2 * requestBytes;
}

/** Sees each redirect the client follows (logged once per target origin by the caller). */
type RedirectObserver = (from: string, to: string) => void;

/** Retries go on until the caller's deadline, so waits stay short: a new leader is used within this much. */
const MAX_BACKOFF_MS = 250;
const BASE_BACKOFF_MS = 50;
/** Do not start an attempt with less time than this left: it could not finish. */
const MIN_ATTEMPT_MS = 5;
/** Kept back from the caller's deadline so that our answer (the last error) reaches it in time. */
const ANSWER_MARGIN_MS = 50;
/** Without a deadline (only work nobody waits for), retrying until it would never end. */
const NO_DEADLINE_MAX_RETRIES = 2;
/** With several addresses, one attempt takes at most half of what is left (but 1 s at least): a hung node leaves time for the next. */
const MIN_FAILOVER_ATTEMPT_MS = 1000;

/**
 * HTTP to Vault over one keep-alive connection pool (undici). Retries what
 * Vault's own client retries (412, 429, 5xx but 501, connection errors) with
 * jittered exponential backoff, but only while the caller's deadline allows,
 * and honours Retry-After when it fits. Follows one 301/302/307/308 redirect
 * (standby → active) only within -vault-address's own origin or to an origin
 * listed in -vault-redirect-origins, never from https to http: the redirected
 * request carries the token, and may carry a secret ID or a data key.
 */
export class VaultHttpClient {
  /** The addresses of -vault-address and which one is in use (VaultEndpoints below). */
  readonly endpoints: VaultEndpoints;
  private token: string | undefined;
  private readonly allowedOrigins: ReadonlySet<string>;
  /** Origins a redirect has led to; each is reported once. Bounded by allowedOrigins. */
  private readonly reportedRedirects = new Set<string>();

  constructor(
    private readonly settings: VaultClientSettings,
    private readonly clock: ClockPort,
    private readonly onSecret: SecretSink = () => {},
    private readonly observe: VaultRequestObserver = () => {},
    private readonly onRedirect: RedirectObserver = () => {},
    onEndpoints: EndpointsObserver = () => {},
  ) {
    this.endpoints = new VaultEndpoints(settings, (url) => dispatcherFor(url, settings), onEndpoints, (url) => proxyFor(url, settings));
    this.allowedOrigins = new Set([...this.endpoints.all.map((e) => e.origin), ...(settings.redirectOrigins ?? [])]);
  }

  setToken(token: string): void {
    this.onSecret(token, 'issued');
    this.token = token;
  }

  async close(): Promise<void> {
    await this.endpoints.close();
  }

  async request(method: 'GET' | 'POST', path: string, body: unknown, ctx: CallContext, opts: RequestOptions = {}): Promise<VaultResponse> {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    const addressCount = this.endpoints.all.length;
    let waits = 0;
    /** Failed attempts since the last wait: while another address is left to try, try it at once. */
    let failedSinceWait = 0;
    /** The last failed attempt: what the caller gets when the deadline leaves no room for another. */
    let lastFailure: { error: unknown } | { res: VaultResponse } | undefined;
    for (let attempt = 0; ; attempt++) {
      const remaining = ctx.deadline - this.clock.now() - ANSWER_MARGIN_MS;
      if (ctx.signal.aborted) throw abortReason(ctx);
      if (remaining < MIN_ATTEMPT_MS) {
        if (lastFailure && 'res' in lastFailure) return lastFailure.res;
        if (lastFailure) throw lastFailure.error;
        throw new KmsError('deadline-exceeded', 'deadline exceeded before Vault answered');
      }
      const mayRetry = attempt < (Number.isFinite(ctx.deadline) ? this.settings.maxRetries : Math.min(this.settings.maxRetries, NO_DEADLINE_MAX_RETRIES));
      const endpoint = this.endpoints.current();
      const attemptMs = addressCount > 1 ? Math.min(this.settings.timeoutMs, Math.max(MIN_FAILOVER_ATTEMPT_MS, remaining / 2)) : this.settings.timeoutMs;
      let res: VaultResponse & { retryAfterMs?: number };
      const started = process.hrtime.bigint();
      const elapsed = () => Number(process.hrtime.bigint() - started) / 1e9;
      try {
        res = await this.send(endpoint, method, path, payload, remaining, attemptMs, ctx, opts);
        this.observe(operationOf(path), `${Math.floor(res.status / 100)}xx`, elapsed(), res.status);
      } catch (e) {
        this.observe(operationOf(path), 'error', elapsed());
        if (e instanceof KmsError && e.kind !== 'unavailable') throw e;
        this.endpoints.failed(endpoint, (e as Error).message);
        lastFailure = { error: e };
        const next = mayRetry ? await this.beforeRetry(++failedSinceWait < addressCount, waits, undefined, ctx) : 'stop';
        if (next === 'stop') throw e;
        if (next === 'waited') [waits, failedSinceWait] = [waits + 1, 0];
        continue;
      }
      // 5xx: sealed, no active node, or a node that cannot forward: another node may serve it now.
      // 412 and 429 concern this request on a working node: the same node again, after a wait.
      // A request too large for the server's JSON limits is refused alike everywhere: the caller splits it.
      const tooLarge = res.status === 500 && isRequestSizeRefusal(res.status, errorTexts(res.body));
      const nodeFailed = res.status >= 500 && res.status !== 501 && !tooLarge;
      if (nodeFailed) this.endpoints.failed(endpoint, `HTTP ${res.status}`);
      else this.endpoints.succeeded(endpoint);
      if (!isRetryableStatus(res.status) || tooLarge || !mayRetry) return res;
      lastFailure = { res };
      const next = await this.beforeRetry(nodeFailed && ++failedSinceWait < addressCount, waits, res.retryAfterMs, ctx);
      if (next === 'stop') return res;
      if (next === 'waited') [waits, failedSinceWait] = [waits + 1, 0];
    }
  }

  /** At once when another address is left to try, else after a backoff; 'stop' when the deadline leaves no room. */
  private async beforeRetry(otherAddressLeft: boolean, waits: number, retryAfterMs: number | undefined, ctx: CallContext): Promise<'now' | 'waited' | 'stop'> {
    if (otherAddressLeft) return ctx.deadline - this.clock.now() - ANSWER_MARGIN_MS >= MIN_ATTEMPT_MS ? 'now' : 'stop';
    return (await this.backoff(waits, retryAfterMs, ctx)) ? 'waited' : 'stop';
  }

  /** Sleeps before the next attempt, the last wait trimmed to the deadline; false when no attempt fits any more. */
  private async backoff(attempt: number, retryAfterMs: number | undefined, ctx: CallContext): Promise<boolean> {
    const exp = Math.min(MAX_BACKOFF_MS, BASE_BACKOFF_MS * 2 ** attempt);
    const room = ctx.deadline - this.clock.now() - ANSWER_MARGIN_MS - MIN_ATTEMPT_MS;
    const wanted = retryAfterMs ?? exp * (0.5 + Math.random() * 0.5);
    if (retryAfterMs !== undefined && retryAfterMs > room) return false;
    const wait = Math.min(wanted, room);
    if (wait < 0) return false;
    await new Promise<void>((resolve) => {
      const stop = onAbort(ctx, () => {
        clearTimeout(t);
        resolve();
      });
      const t = setTimeout(() => {
        stop();
        resolve();
      }, wait);
    });
    return !ctx.signal.aborted;
  }

  private async send(endpoint: VaultEndpoint, method: Dispatcher.HttpMethod, path: string, payload: string | undefined, remainingMs: number, attemptMs: number, ctx: CallContext, opts: RequestOptions) {
    const headers: Record<string, string> = { 'x-vault-request': 'true', accept: 'application/json' };
    if (payload !== undefined) headers['content-type'] = 'application/json';
    if (opts.authenticated !== false && this.token) headers['x-vault-token'] = this.token;
    if (this.settings.namespace && !opts.rootNamespace) headers['x-vault-namespace'] = this.settings.namespace;
    // The caller's deadline is already the caller's context. Only when VAULT_CLIENT_TIMEOUT ends this
    // attempt sooner does it get its own signal and timer, released in `finally`.
    const timeoutMs = attemptMs;
    let scope: CallContext = ctx;
    let timer: NodeJS.Timeout | undefined;
    let stopListening = () => {};
    if (timeoutMs < remainingMs) {
      const attempt = new AbortController();
      timer = setTimeout(() => attempt.abort(new KmsError('unavailable', `Vault did not answer within ${Math.round(timeoutMs)}ms`, { reason: 'timeout' })), timeoutMs);
      stopListening = onAbort(ctx, () => attempt.abort(abortReason(ctx)));
      scope = { deadline: ctx.deadline, signal: attempt.signal };
    }
    const flatHeaders = Object.entries(headers).flat();
    const maxBodyBytes = maxResponseBytes(payload === undefined ? 0 : Buffer.byteLength(payload));
    let origin = endpoint.origin;
    let dispatcher = endpoint.dispatcher;
    let fullPath = `${endpoint.basePath}/v1/${path}`;
    try {
      for (let hop = 0; ; hop++) {
        const res = await exchange(dispatcher, { origin, path: fullPath, method, headers: flatHeaders, body: payload, maxBodyBytes }, scope);
        const location = res.location;
        if ([301, 302, 307, 308].includes(res.statusCode) && typeof location === 'string' && hop === 0) {
          const target = new URL(location, origin);
          if (origin.startsWith('https:') && target.protocol !== 'https:') {
            throw new KmsError('unavailable', 'Vault redirected from https to http; refusing to follow');
          }
          if (!this.allowedOrigins.has(target.origin)) {
            throw new KmsError('unavailable', `Vault redirected to ${outsideText(target.origin, OUTSIDE_ITEM_MAX_CHARS)}, which is not -vault-address's origin nor listed in -vault-redirect-origins; refusing to send the token there`);
          }
          if (target.origin !== origin && !this.reportedRedirects.has(target.origin)) {
            this.reportedRedirects.add(target.origin);
            this.onRedirect(origin, target.origin);
          }
          origin = target.origin;
          dispatcher = this.endpoints.byOrigin(origin)?.dispatcher ?? dispatcher;
          fullPath = target.pathname + target.search;
          continue;
        }
        const retryAfter = Number(res.retryAfter);
        return { status: res.statusCode, body: parseJson(res.text, res.statusCode), retryAfterMs: Number.isFinite(retryAfter) && retryAfter >= 0 ? retryAfter * 1000 : undefined };
      }
    } catch (e) {
      if (e instanceof KmsError) throw e;
      if (ctx.signal.aborted) throw abortReason(ctx);
      const specific = headerRefusal(e) ?? proxyRefusal(e, new URL(origin), proxyFor(new URL(origin), this.settings));
      if (specific) throw specific;
      const problem = describeNetworkError(e);
      // A certificate problem is not "cannot reach": the text names what to give instead.
      throw new KmsError('unavailable', problem.startsWith("Vault's certificate") ? problem : `cannot reach Vault: ${problem}`, { cause: e, reason: networkReasonOf(e) });
    } finally {
      if (timer) clearTimeout(timer);
      stopListening();
    }
  }
}

/** A closed set of names for metrics: never a raw path (mounts and key names are operator data). */
function operationOf(path: string): string {
  if (path.includes('/encrypt/')) return 'transit_encrypt';
  if (path.includes('/decrypt/')) return 'transit_decrypt';
  if (path.includes('/keys/')) return 'transit_read_key';
  if (path.endsWith('lookup-self')) return 'token_lookup_self';
  if (path.endsWith('renew-self')) return 'token_renew_self';
  if (path.endsWith('/login')) return 'login';
  return 'other';
}

/** The `errors` strings of an error body, read without a schema (vault-errors.ts's errorsOf drops an array that holds a non-string). */
function errorTexts(body: unknown): string[] {
  const errors = (body as { errors?: unknown } | undefined)?.errors;
  return Array.isArray(errors) ? errors.filter((e): e is string => typeof e === 'string') : [];
}

function parseJson(text: string, status: number): unknown {
  if (text.trim() === '') return undefined;
  try {
    return JSON.parse(text);
  } catch {
    // Vault's TLS listener answers a plain-HTTP request with a text 400 ("Client sent an HTTP request to an HTTPS server").
    throw new KmsError('unavailable', `Vault sent an unreadable response (HTTP ${status}, invalid JSON)`, status === 400 ? { reason: 'plain-http-to-tls' } : {});
  }
}

/**
 * The connection pool to Vault: direct, or through the proxy named by
 * HTTP_PROXY/HTTPS_PROXY unless NO_PROXY lists the host. As in Go's
 * net/http (Vault's client), loopback addresses are never proxied.
 */
function dispatcherFor(url: URL, settings: VaultClientSettings): Dispatcher {
  const tls = buildTlsOptions(settings);
  const pool = { connections: 64, keepAliveTimeout: 30_000 };
  const proxyUrl = proxyFor(url, settings);
  if (!proxyUrl) return new Agent({ ...pool, connect: tls });
  return new ProxyAgent({ ...pool, uri: proxyUrl, requestTls: tls });
}

/**
 * A header value HTTP cannot carry (a line break or another control character
 * in the token, or in -vault-namespace): undici refuses to send the request.
 * Nothing would change on a retry, so it is a precondition, not an outage.
 */
function headerRefusal(e: unknown): KmsError | undefined {
  const err = e as { code?: string; message?: string };
  const m = err?.code === 'UND_ERR_INVALID_ARG' ? /^invalid ([a-z0-9-]+) header$/i.exec(err.message ?? '') : null;
  if (!m) return undefined;
  const what = HEADER_SOURCES[m[1].toLowerCase()] ?? `the ${m[1]} header`;
  return new KmsError('failed-precondition', `${what} holds characters an HTTP header cannot carry (a line break or another control character); the request was not sent`, { cause: e });
}

const HEADER_SOURCES: Readonly<Record<string, string>> = {
  'x-vault-token': 'the Vault token (from -token, -token-file or Vault\'s login answer)',
  'x-vault-namespace': '-vault-namespace (VAULT_KMS_VAULT_NAMESPACE, VAULT_NAMESPACE)',
};

// ---- The addresses of -vault-address ----

/** One configured Vault address and the connection pool that reaches it. */
export interface VaultEndpoint {
  /** As configured (no user-info: the configuration refuses it), used in logs, metrics and /health. */
  readonly address: string;
  readonly origin: string;
  /** Path prefix of the address (a Vault behind a path-routing proxy), without a trailing slash. */
  readonly basePath: string;
  readonly dispatcher: Dispatcher;
  /** The proxy requests to it go through (HTTPS_PROXY, HTTP_PROXY), if any. */
  readonly proxy?: string;
}

interface EndpointState {
  readonly address: string;
  readonly up: boolean;
  readonly current: boolean;
  /** Why it is down (an error text without secrets), or '' when up. */
  readonly reason: string;
}

/** Sees every change of an address's state or of the address in use. */
type EndpointsObserver = (states: readonly EndpointState[]) => void;

/**
 * The addresses of -vault-address, with a sticky choice among them: requests
 * go to the address that last worked; when an attempt there fails (connection
 * error, timeout, 5xx, unreachable redirect target), the next address not
 * known to be down becomes the one in use, at once. A failed address is used
 * again only after it passes a check (or when every address has failed, in
 * turn). With one address, nothing here changes how requests are sent.
 */
export class VaultEndpoints {
  readonly all: readonly VaultEndpoint[];
  private readonly up: boolean[];
  private readonly reasons: string[];
  private currentIndex = 0;

  constructor(
    settings: VaultClientSettings,
    dispatcherFor: (url: URL) => Dispatcher,
    private readonly observe: EndpointsObserver = () => {},
    proxyFor: (url: URL) => string | undefined = () => undefined,
  ) {
    const list = settings.addresses && settings.addresses.length > 0 ? settings.addresses : [settings.address];
    this.all = list.map((address) => endpointFor(address, dispatcherFor, proxyFor));
    this.up = this.all.map(() => true);
    this.reasons = this.all.map(() => '');
  }

  current(): VaultEndpoint {
    return this.all[this.currentIndex];
  }

  /** The configured endpoint with this origin (a redirect target), if any. */
  byOrigin(origin: string): VaultEndpoint | undefined {
    return this.all.find((e) => e.origin === origin && !e.address.startsWith('unix:'));
  }

  /** An attempt on `endpoint` failed: mark it down and, if it was in use, move on to the next candidate. */
  failed(endpoint: VaultEndpoint, reason: string): void {
    const i = this.all.indexOf(endpoint);
    if (i < 0) return;
    const changed = this.up[i] || this.reasons[i] !== reason;
    this.up[i] = false;
    this.reasons[i] = reason;
    if (i === this.currentIndex && this.all.length > 1) {
      this.currentIndex = this.nextCandidate(i);
      this.notify();
    } else if (changed) this.notify();
  }

  /** Vault answered on `endpoint` (a request or a check): it may be chosen again. Does not move the choice. */
  succeeded(endpoint: VaultEndpoint): void {
    const i = this.all.indexOf(endpoint);
    if (i < 0 || this.up[i]) return;
    this.up[i] = true;
    this.reasons[i] = '';
    this.notify();
  }

  states(): EndpointState[] {
    return this.all.map((e, i) => ({ address: e.address, up: this.up[i], current: i === this.currentIndex, reason: this.reasons[i] }));
  }

  async close(): Promise<void> {
    await Promise.all(this.all.map((e) => e.dispatcher.close()));
  }

  /** The next address after `from` that is not known to be down; if all are, simply the next one. */
  private nextCandidate(from: number): number {
    const n = this.all.length;
    for (let step = 1; step < n; step++) {
      const j = (from + step) % n;
      if (this.up[j]) return j;
    }
    return (from + 1) % n;
  }

  private notify(): void {
    this.observe(this.states());
  }
}

function endpointFor(address: string, dispatcherFor: (url: URL) => Dispatcher, proxyFor: (url: URL) => string | undefined): VaultEndpoint {
  const url = new URL(address);
  if (url.protocol === 'unix:') {
    const dispatcher = new Agent({ connections: 64, keepAliveTimeout: 30_000, connect: { socketPath: url.pathname } });
    return { address, origin: 'http://localhost', basePath: '', dispatcher };
  }
  return { address, origin: url.origin, basePath: url.pathname.replace(/\/+$/, ''), dispatcher: dispatcherFor(url), proxy: proxyFor(url) };
}

// ---- One HTTP exchange ----

interface HttpExchange {
  readonly origin: string;
  readonly path: string;
  readonly method: Dispatcher.HttpMethod;
  /** Flat [name, value, name, value, ...] list, lower-case names. */
  readonly headers: readonly string[];
  readonly body: string | undefined;
  /** The answer's body is refused (and the connection dropped) once it grows past this many bytes. */
  readonly maxBodyBytes: number;
}

interface HttpAnswer {
  readonly statusCode: number;
  /** The Location and Retry-After headers: the only ones the Vault client reads. */
  readonly location: string | undefined;
  readonly retryAfter: string | undefined;
  /** The whole body as UTF-8 text. */
  readonly text: string;
}

/**
 * Sends one HTTP request with undici's `dispatcher.request()` and collects its
 * body into one buffer. undici's headers/body timeouts are off: the caller's
 * deadline and VAULT_CLIENT_TIMEOUT bound every request through `ctx`, whose
 * abort settles the exchange at once with the context's reason (on Node 20,
 * undici's request() can stay pending after an abort when the server closes
 * the connection at once).
 */
export async function exchange(dispatcher: Dispatcher, req: HttpExchange, ctx: CallContext): Promise<HttpAnswer> {
  if (ctx.signal.aborted) throw abortReason(ctx);
  let stopListening = () => {};
  const aborted = new Promise<never>((_resolve, reject) => {
    stopListening = onAbort(ctx, () => reject(abortReason(ctx)));
  });
  const work = (async (): Promise<HttpAnswer> => {
    const res = await dispatcher.request({
      origin: req.origin,
      path: req.path,
      method: req.method,
      headers: req.headers as string[],
      body: req.body ?? null,
      signal: ctx.signal,
      headersTimeout: 0,
      bodyTimeout: 0,
    });
    const chunks: Buffer[] = [];
    let total = 0;
    for await (const chunk of res.body) {
      total += (chunk as Buffer).length;
      if (total > req.maxBodyBytes) {
        res.body.destroy();
        throw new KmsError('internal', `Vault's answer is larger than ${req.maxBodyBytes} bytes; refusing to read it (a broken or hostile server, or something between)`);
      }
      chunks.push(chunk as Buffer);
    }
    return { statusCode: res.statusCode, location: firstOf(res.headers.location), retryAfter: firstOf(res.headers['retry-after']), text: Buffer.concat(chunks, total).toString('utf8') };
  })();
  try {
    return await Promise.race([work, aborted]);
  } finally {
    stopListening();
    work.catch(() => {}); // settled by the abort: undici's own rejection is of no interest
  }
}

function firstOf(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}
