import { z } from 'zod';
import { OUTSIDE_ITEM_MAX_CHARS, outsideText } from '../../domain/model/outside-text';
import type { AuthStrategyPort } from '../../ports/auth.port';
import type { CallContext } from '../../ports/call-context';
import { KmsError } from '../../ports/errors';
import {
  LoginRefusedError,
  type CapabilityReport,
  type LoginInfo,
  type RequiredCapability,
  type TransitKeyDetails,
  type VaultDiagnosticsPort,
  type VaultServerInfo,
} from '../../ports/vault-diagnostics.port';
import { classifyVaultError, type VaultOperation } from './vault-errors';
import type { VaultHttpClient } from './vault-http-client';
import { errorsOf, parseOk } from './vault-errors';
import { VaultTransitAdapter } from './vault-transit.adapter';
import { ignoresNamespaces } from './vault-edition';

const healthBody = z.object({
  initialized: z.boolean(),
  sealed: z.boolean(),
  standby: z.boolean().default(false),
  version: z.string().default('unknown'),
});

const lookupBody = z.object({
  data: z.object({
    ttl: z.coerce.number().int(),
    renewable: z.boolean().default(false),
    policies: z.array(z.string()).nullable().default([]),
    period: z.coerce.number().int().nullable().default(0),
    explicit_max_ttl: z.coerce.number().int().nullable().default(0),
  }),
});

const keyBody = z.object({
  data: z.object({
    type: z.string().default('aes256-gcm96'),
    latest_version: z.coerce.number().int(),
    derived: z.boolean().default(false),
    supports_encryption: z.boolean().default(true),
    supports_decryption: z.boolean().default(true),
    min_encryption_version: z.coerce.number().int().default(0),
  }),
});

const capabilitiesBody = z.object({ data: z.record(z.string(), z.unknown()) });

/**
 * A request for each path that Vault checks against the token's policy before
 * the handler sees it, and that the handler then refuses as malformed: so 403
 * means "not allowed" and any other answer means "allowed", and nothing changes.
 */
const PROBE_BODY: Record<string, unknown> = {
  'renew-self': { increment: 'not-a-duration' },
  encrypt: {},
  decrypt: {},
};

/** The Vault side of `check`, on the plugin's own HTTP client, auth strategy and transit adapter. */
export class VaultDiagnosticsAdapter implements VaultDiagnosticsPort {
  private readonly transit: VaultTransitAdapter;
  private readonly required: readonly RequiredCapability[];
  /** Whose token login() left in use: the operator's ('given') or one the login created. */
  private loggedIn: 'given' | 'created' | undefined;

  constructor(
    private readonly http: VaultHttpClient,
    private readonly auth: AuthStrategyPort,
    private readonly mount: string,
    private readonly key: string,
  ) {
    this.transit = new VaultTransitAdapter(http, mount, key);
    this.required = [
      { path: 'auth/token/lookup-self', capability: 'read', purpose: 'look up its own token' },
      { path: 'auth/token/renew-self', capability: 'update', purpose: 'renew its own token' },
      { path: `${mount}/encrypt/${key}`, capability: 'update', purpose: 'wrap data keys' },
      { path: `${mount}/decrypt/${key}`, capability: 'update', purpose: 'unwrap data keys' },
      { path: `${mount}/keys/${key}`, capability: 'read', purpose: "read the key's latest version, the KMS key_id" },
    ];
  }

  async serverInfo(ctx: CallContext): Promise<VaultServerInfo> {
    // Every state answers 200 with these parameters, so no status is retried and the body says which state.
    const res = await this.http.request('GET', 'sys/health?standbyok=true&perfstandbyok=true&sealedcode=200&uninitcode=200', undefined, ctx, { authenticated: false, rootNamespace: true });
    const parsed = healthBody.safeParse(res.body);
    if (res.status !== 200 || !parsed.success) {
      throw new KmsError('unavailable', `the server at the address answered HTTP ${res.status} to sys/health, not as Vault does`, { reason: 'other' });
    }
    // Vault chose this string: `check` prints it, so it is one short line of visible characters.
    return { ...parsed.data, version: outsideText(parsed.data.version, OUTSIDE_ITEM_MAX_CHARS), ignoresNamespaces: ignoresNamespaces(res.body) };
  }

  async login(ctx: CallContext): Promise<LoginInfo> {
    let token: string;
    try {
      token = await this.auth.login(ctx);
    } catch (e) {
      throw asLoginRefusal(e);
    }
    this.http.setToken(token);
    // Token auth hands over the operator's token: only a token a login created here is check's to revoke.
    this.loggedIn = this.auth.method === 'token' ? 'given' : 'created';
    const op: VaultOperation = { what: 'token lookup', path: 'auth/token/lookup-self', capability: 'read' };
    const res = await this.http.request('GET', op.path, undefined, ctx);
    // A token without lookup-self still logged in; the capabilities step names what it lacks.
    if (res.status === 403 && classifyVaultError(403, errorsOf(res), op).missingCapability) {
      return { method: this.auth.method, ttlSeconds: -1, renewable: false, policies: [], periodSeconds: 0, explicitMaxTtlSeconds: 0 };
    }
    const { data } = parseOk(res, lookupBody, op);
    return {
      method: this.auth.method,
      ttlSeconds: data.ttl,
      renewable: data.renewable,
      policies: (data.policies ?? []).map((p) => outsideText(p, OUTSIDE_ITEM_MAX_CHARS)),
      periodSeconds: data.period ?? 0,
      explicitMaxTtlSeconds: data.explicit_max_ttl ?? 0,
    };
  }

  async revokeLoginToken(ctx: CallContext): Promise<'revoked' | 'not-created-here' | 'no-login'> {
    if (this.loggedIn === undefined) return 'no-login';
    if (this.loggedIn === 'given') return 'not-created-here';
    const op: VaultOperation = { what: 'revocation of the token check logged in with', path: 'auth/token/revoke-self', capability: 'update' };
    const res = await this.http.request('POST', op.path, {}, ctx);
    if (res.status !== 204 && res.status !== 200) throw classifyVaultError(res.status, errorsOf(res), op);
    this.loggedIn = undefined;
    return 'revoked';
  }

  requiredCapabilities(): readonly RequiredCapability[] {
    return this.required;
  }

  async checkCapabilities(ctx: CallContext): Promise<CapabilityReport> {
    const op: VaultOperation = { what: 'capability listing', path: 'sys/capabilities-self', capability: 'update' };
    const res = await this.http.request('POST', op.path, { paths: this.required.map((r) => r.path) }, ctx);
    if (res.status === 403) {
      const denial = classifyVaultError(403, errorsOf(res), op);
      if (!denial.missingCapability) throw denial;
      return { via: 'probe', missing: await this.probeEach(ctx) };
    }
    const { data } = parseOk(res, capabilitiesBody, op);
    const missing = this.required.filter((r) => {
      const caps = Array.isArray(data[r.path]) ? (data[r.path] as unknown[]) : [];
      return !caps.includes(r.capability) && !caps.includes('root');
    });
    return { via: 'capabilities-self', missing };
  }

  private async probeEach(ctx: CallContext): Promise<RequiredCapability[]> {
    const missing: RequiredCapability[] = [];
    for (const r of this.required) {
      const res =
        r.capability === 'read'
          ? await this.http.request('GET', r.path, undefined, ctx)
          : await this.http.request('POST', r.path, PROBE_BODY[probeKind(r.path, this.mount)] ?? {}, ctx);
      if (res.status !== 403) continue;
      const denial = classifyVaultError(403, errorsOf(res), { what: r.purpose, path: r.path, capability: r.capability });
      if (!denial.missingCapability) throw denial;
      missing.push(r);
    }
    return missing;
  }

  async readKey(ctx: CallContext): Promise<TransitKeyDetails | undefined> {
    const op: VaultOperation = { what: 'read of the transit key', path: `${this.mount}/keys/${this.key}`, capability: 'read' };
    const res = await this.http.request('GET', op.path, undefined, ctx);
    if (res.status === 404) return undefined;
    const { data } = parseOk(res, keyBody, op);
    return {
      type: outsideText(data.type, OUTSIDE_ITEM_MAX_CHARS),
      latestVersion: data.latest_version,
      derived: data.derived,
      supportsEncryption: data.supports_encryption,
      supportsDecryption: data.supports_decryption,
      minEncryptionVersion: data.min_encryption_version,
    };
  }

  async roundTrip(plaintext: Uint8Array, ctx: CallContext): Promise<{ keyVersion: number; matches: boolean }> {
    const [sealed] = await this.transit.encrypt([{ plaintext }], ctx);
    if (!sealed.ok) throw sealed.error;
    const [opened] = await this.transit.decrypt([sealed.ciphertext], ctx);
    if (!opened.ok) throw opened.error;
    return { keyVersion: sealed.keyVersion, matches: Buffer.from(opened.plaintext).equals(Buffer.from(plaintext)) };
  }
}

function probeKind(path: string, mount: string): string {
  if (path === 'auth/token/renew-self') return 'renew-self';
  return path.slice(mount.length + 1).split('/')[0];
}

/**
 * The AppRole and userpass strategies' refusals (their own texts) as the
 * doctor's two cases: a wrong credential, or a role or user locked out.
 */
function asLoginRefusal(e: unknown): unknown {
  if (!(e instanceof KmsError) || e.kind !== 'permission-denied') return e;
  if (/user lockout after repeated failed logins/.test(e.message)) return new LoginRefusedError('locked-out', e.message);
  if (/invalid role or secret ID|rejected this secret ID|refused this password|HTTP 400/.test(e.message)) return new LoginRefusedError('wrong-credential', e.message);
  return e;
}
