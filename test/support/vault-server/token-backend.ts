/**
 * The auth/token/* endpoints (vault-api.md §4): create, lookup, renew, revoke.
 */
import type { Backend, VaultRequest } from './backend';
import type { Flavor, Reply, ResponseSite } from './envelope';
import { NO_CONTENT, badRequest, errorReply, multiErrorText, okReply, unsupportedOperationReply } from './envelope';
import { FieldError, RequestBody, has, readBool, readDuration, readInt, readString, readStringList, readStringMap } from './request-fields';
import type { TokenEntry, TokenStore } from './tokens';

/** Options for creating a token, shared by the HTTP endpoint and the programmatic API. */
export interface CreateTokenOptions {
  readonly policies?: readonly string[];
  readonly noDefaultPolicy?: boolean;
  /** Seconds or a duration string such as "1h". */
  readonly ttl?: number | string;
  readonly period?: number | string;
  readonly explicitMaxTtl?: number | string;
  readonly renewable?: boolean;
  readonly numUses?: number;
  readonly orphan?: boolean;
  readonly displayName?: string;
  readonly meta?: Readonly<Record<string, string>>;
}

/** Converts programmatic options into the body the HTTP endpoint accepts. */
export function tokenRequestBody(options: CreateTokenOptions): RequestBody {
  return {
    policies: options.policies,
    no_default_policy: options.noDefaultPolicy,
    ttl: options.ttl,
    period: options.period,
    explicit_max_ttl: options.explicitMaxTtl,
    renewable: options.renewable,
    num_uses: options.numUses,
    display_name: options.displayName,
    meta: options.meta,
  };
}

export type CreatedToken =
  | { readonly ok: true; readonly entry: TokenEntry; readonly warnings: string[] }
  | { readonly ok: false; readonly reply: Reply };

const DISPLAY_NAME_UNSAFE = /[^a-zA-Z0-9-]/g;

export class TokenBackend implements Backend {
  readonly mountType = 'token';
  private readonly site: ResponseSite;

  constructor(
    flavor: Flavor,
    private readonly tokens: TokenStore,
  ) {
    this.site = { flavor, mountType: this.mountType };
  }

  handle(req: VaultRequest, subPath: string): Reply | null {
    const writes = req.operation === 'update' || req.operation === 'create';
    const token = req.token!;
    switch (subPath) {
      case 'create':
      case 'create-orphan':
        return writes ? this.create(token, req.body, subPath === 'create-orphan') : unsupportedOperationReply();
      case 'lookup-self':
        return req.operation === 'read' || writes ? okReply(this.site, this.tokens.lookupData(token)) : unsupportedOperationReply();
      case 'lookup':
        return writes ? this.lookupOther(req.body) : unsupportedOperationReply();
      case 'renew-self':
        return writes ? this.renew(token, req.body) : unsupportedOperationReply();
      case 'renew':
        return writes ? this.renewOther(req.body) : unsupportedOperationReply();
      case 'revoke-self':
        if (!writes) return unsupportedOperationReply();
        this.tokens.revoke(token.id);
        return NO_CONTENT;
      case 'revoke':
        if (!writes) return unsupportedOperationReply();
        if (!has(req.body, 'token')) return badRequest('missing token');
        this.tokens.revoke(readString(req.body, 'token'));
        return NO_CONTENT;
      default:
        return null;
    }
  }

  /** HTTP create: the token in an `auth` block, or the validation error. */
  create(parent: TokenEntry, body: RequestBody, orphanEndpoint: boolean): Reply {
    const created = this.createEntry(parent, body, orphanEndpoint);
    if (!created.ok) return created.reply;
    return okReply(this.site, null, { auth: this.tokens.authBlock(created.entry), warnings: created.warnings });
  }

  /** Creates a token on behalf of `parent`; also used by the programmatic API with the root token. */
  createEntry(parent: TokenEntry, body: RequestBody, orphanEndpoint: boolean): CreatedToken {
    const parentIsRoot = parent.policies.includes('root');
    const noParent = orphanEndpoint || readBool(body, 'no_parent');
    if (readBool(body, 'no_parent') && !orphanEndpoint && !parentIsRoot) {
      return { ok: false, reply: badRequest('root or sudo privileges required to create orphan token') };
    }
    const requested = readStringList(body, 'policies');
    const policies = requested ?? parent.policies.filter((p) => p !== 'default');
    if (!parentIsRoot) {
      const allowed = new Set(parent.policies);
      if (policies.includes('root') || !policies.every((p) => p === 'default' || allowed.has(p))) {
        return { ok: false, reply: badRequest('child policies must be subset of parent') };
      }
    }
    const numUses = readInt(body, 'num_uses');
    if (numUses < 0) return { ok: false, reply: badRequest('number of uses cannot be negative') };
    const displayName = readString(body, 'display_name').replace(DISPLAY_NAME_UNSAFE, '-');
    try {
      const created = this.tokens.create({
        policies,
        noDefaultPolicy: readBool(body, 'no_default_policy'),
        ttl: readDuration(body, 'ttl'),
        period: readDuration(body, 'period'),
        explicitMaxTtl: readDuration(body, 'explicit_max_ttl'),
        renewable: readBool(body, 'renewable', true),
        numUses,
        parentId: noParent ? null : parent.id,
        path: orphanEndpoint ? 'auth/token/create-orphan' : 'auth/token/create',
        displayName: displayName ? `token-${displayName}` : 'token',
        meta: readStringMap(body, 'meta') ?? null,
      });
      return { ok: true, ...created };
    } catch (err) {
      if (err instanceof FieldError) return { ok: false, reply: badRequest(err.message) };
      return { ok: false, reply: errorReply(500, multiErrorText((err as Error).message)) };
    }
  }

  private lookupOther(body: RequestBody): Reply {
    const entry = this.tokens.lookupValid(readString(body, 'token'));
    if (!entry) return errorReply(403, 'bad token');
    return okReply(this.site, this.tokens.lookupData(entry));
  }

  private renewOther(body: RequestBody): Reply {
    const entry = this.tokens.lookupValid(readString(body, 'token'));
    if (!entry) return badRequest('invalid token');
    return this.renew(entry, body);
  }

  /** §4.2: renewal maths live in TokenStore.renew; here only the wire shape. */
  private renew(entry: TokenEntry, body: RequestBody): Reply {
    const result = this.tokens.renew(entry, readDuration(body, 'increment'));
    if ('error' in result) {
      return result.status === 400 ? badRequest(result.error) : errorReply(result.status, multiErrorText(result.error));
    }
    return okReply(this.site, null, { auth: this.tokens.authBlock(entry), warnings: result.warnings });
  }
}
