import { Client, credentials, Metadata, type ServiceError } from '@grpc/grpc-js';
import { OUTSIDE_ITEM_MAX_CHARS, outsideList, outsideText } from '../../domain/model/outside-text';
import { abortReason, onAbort, type CallContext } from '../../ports/call-context';
import { KmsError } from '../../ports/errors';
import { JWTSVIDRequest, JWTSVIDResponse, type IJWTSVIDRequest } from './generated/workload-proto';
import { workloadApiError } from './workload-api-errors';
import { workloadEndpoint, type WorkloadEndpoint } from './workload-endpoint';

const FETCH_JWT_SVID = '/SpiffeWorkloadAPI/FetchJWTSVID';
/** The header every Workload API call carries; agents refuse calls without it (a guard against SSRF-style proxying). */
const SECURITY_HEADER = 'workload.spiffe.io';
/**
 * Upper bound of one fetch when the caller has no deadline: a local agent
 * answers in milliseconds, a stuck one must not hold a login forever.
 */
const FETCH_TIMEOUT_MS = 10_000;
/**
 * The Workload API channel never goes through an HTTP proxy. grpc-js would
 * otherwise tunnel a tcp:// endpoint through grpc_proxy, https_proxy or
 * http_proxy, and it reads only the lower-case no_proxy (NO_PROXY is ignored):
 * the JWT-SVID, a Vault login credential, would cross the proxy at every
 * login. The agent is local by design (the spec's endpoints are a unix socket
 * or an IP address and port).
 */
const CHANNEL_OPTIONS = { 'grpc.enable_http_proxy': 0 } as const;

interface SpiffeJwtSourceOptions {
  /** unix:///path, unix:/path, a bare socket path, or tcp://<ip>:<port> (the SPIFFE_ENDPOINT_SOCKET forms). */
  readonly endpoint: string;
  /** The aud claim the token is requested for (the Vault role's bound_audiences). */
  readonly audience: string;
  /** The identity to ask for; unset: the workload's default identity. */
  readonly spiffeId?: string;
}

/**
 * JWT-SVIDs from the SPIFFE Workload API (FetchJWTSVID, usually over the
 * node agent's unix socket), asked for at every call, never kept: the agent
 * caches them and signs a new one once the cached one is about half-way
 * through its lifetime (SPIRE), so every login gets a token with time left.
 * The token is a bearer credential: it is returned, never logged or put into
 * an error.
 *
 * Each fetch opens its own channel and closes it after the answer. Logins are
 * rare (once per Vault token lifetime), and a long-lived channel would carry
 * grpc-js's reconnect backoff (growing to two minutes) across an agent
 * restart, refusing logins for a while after the agent is back.
 */
export class SpiffeJwtSource {
  /** Names this source in the jwt strategy's login errors. */
  readonly description: string;
  private readonly endpoint: WorkloadEndpoint;
  private readonly closing = new AbortController();

  constructor(private readonly opts: SpiffeJwtSourceOptions) {
    this.endpoint = workloadEndpoint(opts.endpoint);
    this.description = `the SPIFFE Workload API at ${this.endpoint.address}`;
    if (opts.audience.trim() === '') throw new KmsError('failed-precondition', 'a JWT-SVID needs an audience: set -jwt-spiffe-audience (VAULT_KMS_JWT_SPIFFE_AUDIENCE)');
    if (opts.spiffeId !== undefined && opts.spiffeId !== '' && !opts.spiffeId.startsWith('spiffe://')) {
      throw new KmsError('failed-precondition', `-jwt-spiffe-id (VAULT_KMS_JWT_SPIFFE_ID) ${JSON.stringify(opts.spiffeId)} is not a SPIFFE ID (spiffe://<trust domain>/<path>)`);
    }
  }

  async fetchToken(ctx: CallContext): Promise<string> {
    if (ctx.signal.aborted) throw abortReason(ctx);
    if (this.closing.signal.aborted) throw closedError();
    const spiffeId = this.opts.spiffeId || undefined;
    const request: IJWTSVIDRequest = { audience: [this.opts.audience], spiffe_id: spiffeId ?? '' };
    const client = new Client(this.endpoint.target, credentials.createInsecure(), CHANNEL_OPTIONS);
    let response: JWTSVIDResponse;
    try {
      response = await this.call(client, request, ctx, spiffeId);
    } finally {
      client.close();
    }
    // Without a requested SPIFFE ID the agent returns every identity the
    // workload is entitled to; the spec makes the first one the default
    // identity (go-spiffe's FetchJWTSVID takes svids[0] as well).
    const svid = spiffeId === undefined ? response.svids[0] : response.svids.find((s) => s.spiffe_id === spiffeId);
    if (!svid) {
      // The agent chose how many and what: a few are named, the rest counted.
      throw new KmsError(
        'permission-denied',
        `the SPIFFE agent at ${this.endpoint.address} returned no JWT-SVID for ${spiffeId ?? 'this workload'} ` +
          `(it returned ${response.svids.length === 0 ? 'none' : `only ${outsideList(response.svids.map((s) => s.spiffe_id ?? ''))}`})`,
      );
    }
    // A JWS compact token is three base64url parts; anything else would only fail later at Vault, less clearly.
    const token = svid.svid ?? '';
    if (!/^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/.test(token)) {
      throw new KmsError('internal', `the SPIFFE agent at ${this.endpoint.address} returned a JWT-SVID for ${outsideText(svid.spiffe_id ?? '', OUTSIDE_ITEM_MAX_CHARS)} that is not a compact JWS`);
    }
    return token;
  }

  /** Cancels the fetches in flight; later fetches fail. */
  close(): void {
    this.closing.abort();
  }

  private call(client: Client, request: IJWTSVIDRequest, ctx: CallContext, spiffeId: string | undefined): Promise<JWTSVIDResponse> {
    const metadata = new Metadata();
    metadata.set(SECURITY_HEADER, 'true');
    const deadline = new Date(Math.min(ctx.deadline, Date.now() + FETCH_TIMEOUT_MS));
    return new Promise((resolve, reject) => {
      const stops: (() => void)[] = [];
      const call = client.makeUnaryRequest<IJWTSVIDRequest, JWTSVIDResponse>(
        FETCH_JWT_SVID,
        (req) => Buffer.from(JWTSVIDRequest.encode(req).finish()),
        (bytes) => JWTSVIDResponse.decode(bytes),
        request,
        metadata,
        { deadline },
        (err: ServiceError | null, value?: JWTSVIDResponse) => {
          for (const stop of stops) stop();
          if (ctx.signal.aborted) reject(abortReason(ctx));
          else if (this.closing.signal.aborted) reject(closedError());
          else if (err) reject(workloadApiError(err, this.endpoint.address, spiffeId));
          else if (!value) reject(new KmsError('internal', `the SPIFFE agent at ${this.endpoint.address} sent an empty FetchJWTSVID answer`));
          else resolve(value);
        },
      );
      stops.push(onAbort(ctx, () => call.cancel()));
      const onClose = () => call.cancel();
      this.closing.signal.addEventListener('abort', onClose, { once: true });
      stops.push(() => this.closing.signal.removeEventListener('abort', onClose));
    });
  }
}

function closedError(): KmsError {
  return new KmsError('cancelled', 'the SPIFFE JWT source is closed (the plugin is shutting down)');
}
