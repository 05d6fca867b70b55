import { outsideList } from '../../../domain/model/outside-text';
import type { CallContext } from '../../../ports/call-context';
import type { AuthStrategyPort } from '../../../ports/auth.port';
import { authData } from '../schemas';
import type { VaultOperation } from '../vault-errors';
import type { VaultHttpClient } from '../vault-http-client';
import { parseOk } from '../vault-errors';
import { loginRefusal } from './login-refusal';
import { readSecretFile } from './secret-file';
import type { SecretSink } from '../../../ports/logger.port';

/** Where the JWT for a login comes from: a file (-jwt-token-path) or the SPIFFE Workload API. */
interface JwtTokenSource {
  /** A JWT to log in with; asked for at every login, since the JWT may have been replaced. */
  fetchToken(ctx: CallContext): Promise<string>;
  /** What to name in errors, e.g. "-jwt-token-path file /var/run/...". */
  readonly description?: string;
}

/** -jwt-token-source=file: the file is read again at every login (projected service-account tokens rotate). */
export class FileJwtSource implements JwtTokenSource {
  readonly description: string;

  constructor(private readonly path: string) {
    this.description = `-jwt-token-path file ${path}`;
  }

  fetchToken(_ctx: CallContext): Promise<string> {
    return readSecretFile(this.path, '-jwt-token-path');
  }
}

/** JWT login (POST auth/<mount>/login with {role, jwt}, no token sent). */
export class JwtAuthStrategy implements AuthStrategyPort {
  readonly method = 'jwt';
  readonly canObtainNewToken = true;
  private readonly loginOp: VaultOperation;

  constructor(
    private readonly http: VaultHttpClient,
    mount: string,
    private readonly role: string,
    private readonly source: JwtTokenSource,
    private readonly onSecret: SecretSink,
    private readonly now: () => number = Date.now,
  ) {
    this.loginOp = { what: 'JWT login', path: `auth/${mount}/login`, capability: 'update' };
  }

  async login(ctx: CallContext): Promise<string> {
    const jwt = await this.source.fetchToken(ctx);
    this.onSecret(jwt, 'issued');
    const res = await this.http.request('POST', this.loginOp.path, { role: this.role, jwt }, ctx, { authenticated: false });
    const refused = loginRefusal(res, this.loginOp, this.refusalHint(jwt));
    if (refused) throw refused;
    const { auth } = parseOk(res, authData, this.loginOp);
    this.onSecret(auth.client_token, 'issued');
    return auth.client_token;
  }

  /** What is wrong with the JWT as far as we can tell without trusting it: expiry and audience, read from its claims. */
  private refusalHint(jwt: string): string {
    const from = this.source.description ?? 'the JWT source';
    const claims = unverifiedClaims(jwt);
    if (!claims) return `the JWT from ${from} is not a JWT (three base64url parts)`;
    if (typeof claims.exp === 'number' && claims.exp * 1000 <= this.now()) {
      return `the JWT from ${from} expired at ${new Date(claims.exp * 1000).toISOString()}; whatever writes it must replace it before it expires`;
    }
    // Claims are whatever the JWT's issuer (or a hostile agent) wrote: named bounded and printable.
    const aud = outsideList((Array.isArray(claims.aud) ? claims.aud : [claims.aud ?? '']).map(String));
    return `check role "${this.role}" (bound_audiences, bound_claims, user_claim) against the JWT from ${from} (aud "${aud}") and the mount's keys (jwt_validation_pubkeys, jwks_url or oidc_discovery_url)`;
  }
}

/** The payload of a JWT, decoded but not verified (only for messages). */
function unverifiedClaims(jwt: string): Record<string, unknown> | undefined {
  const parts = jwt.split('.');
  if (parts.length !== 3) return undefined;
  try {
    const payload = JSON.parse(Buffer.from(parts[1], 'base64url').toString('utf8')) as unknown;
    return payload !== null && typeof payload === 'object' ? (payload as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}
