/**
 * AppRole auth (vault-api.md §5): roles, secret IDs and login. Login tokens
 * are orphan service tokens whose renewals re-read the role's TTL knobs.
 */
import { randomUUID } from 'node:crypto';
import type { Backend, VaultRequest } from './backend';
import { splitPath } from './backend';
import type { Flavor, Reply, ResponseSite } from './envelope';
import { NO_CONTENT, badRequest, notFoundReply, okReply, permissionDeniedReply, unsupportedOperationReply } from './envelope';
import { RequestBody, has, readBool, readDuration, readInt, readString, readStringList } from './request-fields';
import type { ServerClock } from './time';
import type { BackendTokenParams, TokenStore } from './tokens';

export interface AppRole {
  readonly name: string;
  roleId: string;
  bindSecretId: boolean;
  secretIdTtl: number;
  secretIdNumUses: number;
  tokenTtl: number;
  tokenMaxTtl: number;
  tokenPeriod: number;
  tokenExplicitMaxTtl: number;
  tokenPolicies: string[];
  tokenNumUses: number;
  /** Vault creates one identity entity per role alias; kept stable across logins. */
  readonly entityId: string;
}

interface SecretIdEntry {
  readonly secretId: string;
  readonly accessor: string;
  readonly roleName: string;
  readonly expiresAtMs: number | null;
  /** Remaining uses; only meaningful when `limited`. */
  usesLeft: number;
  readonly limited: boolean;
  readonly metadata: Readonly<Record<string, string>>;
}

export interface SecretIdOptions {
  readonly ttl?: number;
  readonly numUses?: number;
  readonly metadata?: Readonly<Record<string, string>>;
}

const INVALID_CREDENTIALS = 'invalid role or secret ID';

export class AppRoleBackend implements Backend {
  readonly mountType = 'approle';
  readonly roles = new Map<string, AppRole>();
  private readonly secretIds = new Map<string, SecretIdEntry>();
  /** Set through the control API: every login answers 403 (user lockout). */
  locked = false;
  private readonly site: ResponseSite;

  constructor(
    flavor: Flavor,
    private readonly clock: ServerClock,
    private readonly tokens: TokenStore,
  ) {
    this.site = { flavor, mountType: this.mountType };
  }

  clear(): void {
    this.roles.clear();
    this.secretIds.clear();
    this.locked = false;
  }

  isUnauthenticated(subPath: string): boolean {
    return subPath === 'login';
  }

  handle(req: VaultRequest, subPath: string): Reply | null {
    const op = req.operation;
    const writes = op === 'update' || op === 'create';
    const parts = splitPath(subPath);
    if (subPath === 'login') return writes ? this.login(req.body) : unsupportedOperationReply();
    if (parts[0] !== 'role') return null;
    if (parts.length === 1) return op === 'list' ? this.listRoles() : unsupportedOperationReply();
    const name = parts[1]!;
    const rest = parts.slice(2).join('/');
    const role = this.roles.get(name);
    switch (rest) {
      case '':
        if (writes) return this.writeRole(name, req.body);
        if (op === 'read') return role ? okReply(this.site, roleData(role)) : notFoundReply();
        if (op === 'delete') return this.deleteRole(name);
        return unsupportedOperationReply();
      case 'role-id':
        if (!role) return badRequest(`role "${name}" does not exist`);
        if (op === 'read') return okReply(this.site, { role_id: role.roleId });
        if (!writes) return unsupportedOperationReply();
        role.roleId = readString(req.body, 'role_id') || role.roleId;
        return NO_CONTENT;
      case 'secret-id': {
        if (!writes) return unsupportedOperationReply();
        if (!role) return badRequest(`role "${name}" does not exist`);
        const entry = this.createSecretId(name, {
          ttl: readDuration(req.body, 'ttl'),
          numUses: readInt(req.body, 'num_uses'),
          metadata: parseSecretMetadata(req.body),
        });
        return okReply(this.site, {
          secret_id: entry.secretId,
          secret_id_accessor: entry.accessor,
          secret_id_num_uses: entry.limited ? entry.usesLeft : 0,
          secret_id_ttl: entry.expiresAtMs === null ? 0 : Math.round((entry.expiresAtMs - this.clock.nowMs()) / 1000),
        });
      }
      case 'secret-id/destroy': {
        if (!writes && op !== 'delete') return unsupportedOperationReply();
        const existing = this.secretIds.get(readString(req.body, 'secret_id'));
        if (existing && existing.roleName === name) this.secretIds.delete(existing.secretId);
        return NO_CONTENT;
      }
      default:
        return null;
    }
  }

  /** Creates or updates a role; only fields present in the body change. */
  writeRole(name: string, body: RequestBody): Reply {
    const current = this.roles.get(name);
    const role: AppRole = current ?? {
      name,
      roleId: randomUUID(),
      bindSecretId: true,
      secretIdTtl: 0,
      secretIdNumUses: 0,
      tokenTtl: 0,
      tokenMaxTtl: 0,
      tokenPeriod: 0,
      tokenExplicitMaxTtl: 0,
      tokenPolicies: [],
      tokenNumUses: 0,
      entityId: randomUUID(),
    };
    const next: AppRole = { ...role };
    if (has(body, 'bind_secret_id')) next.bindSecretId = readBool(body, 'bind_secret_id');
    if (has(body, 'secret_id_ttl')) next.secretIdTtl = readDuration(body, 'secret_id_ttl');
    if (has(body, 'secret_id_num_uses')) next.secretIdNumUses = readInt(body, 'secret_id_num_uses');
    if (has(body, 'token_ttl')) next.tokenTtl = readDuration(body, 'token_ttl');
    if (has(body, 'token_max_ttl')) next.tokenMaxTtl = readDuration(body, 'token_max_ttl');
    if (has(body, 'period')) next.tokenPeriod = readDuration(body, 'period');
    if (has(body, 'token_period')) next.tokenPeriod = readDuration(body, 'token_period');
    if (has(body, 'token_explicit_max_ttl')) next.tokenExplicitMaxTtl = readDuration(body, 'token_explicit_max_ttl');
    if (has(body, 'policies')) next.tokenPolicies = readStringList(body, 'policies') ?? [];
    if (has(body, 'token_policies')) next.tokenPolicies = readStringList(body, 'token_policies') ?? [];
    if (has(body, 'token_num_uses')) next.tokenNumUses = readInt(body, 'token_num_uses');
    if (has(body, 'role_id')) next.roleId = readString(body, 'role_id');
    if (next.secretIdNumUses < 0) return badRequest('secret_id_num_uses cannot be negative');
    if (next.tokenNumUses < 0) return badRequest('token_num_uses cannot be negative');
    if (next.tokenMaxTtl > 0 && next.tokenTtl > next.tokenMaxTtl) {
      return badRequest('token_ttl should not be greater than token_max_ttl');
    }
    this.roles.set(name, next);
    return NO_CONTENT;
  }

  createSecretId(roleName: string, options: SecretIdOptions = {}): SecretIdEntry {
    const role = this.roles.get(roleName);
    if (!role) throw new Error(`role "${roleName}" does not exist`);
    const ttl = options.ttl && options.ttl > 0 ? options.ttl : role.secretIdTtl;
    const uses = options.numUses && options.numUses > 0 ? options.numUses : role.secretIdNumUses;
    const entry: SecretIdEntry = {
      secretId: randomUUID(),
      accessor: randomUUID(),
      roleName,
      expiresAtMs: ttl > 0 ? this.clock.nowMs() + ttl * 1000 : null,
      usesLeft: uses,
      limited: uses > 0,
      metadata: options.metadata ?? {},
    };
    this.secretIds.set(entry.secretId, entry);
    return entry;
  }

  private deleteRole(name: string): Reply {
    this.roles.delete(name);
    for (const entry of [...this.secretIds.values()]) if (entry.roleName === name) this.secretIds.delete(entry.secretId);
    return NO_CONTENT;
  }

  private listRoles(): Reply {
    if (this.roles.size === 0) return notFoundReply();
    return okReply(this.site, { keys: [...this.roles.keys()].sort() });
  }

  /** The secret ID checks of path_login.go; an expired ID is rejected at once (no tidy delay). */
  private validSecretId(role: AppRole, secretId: string): SecretIdEntry | undefined {
    const entry = this.secretIds.get(secretId);
    if (!entry || entry.roleName !== role.name) return undefined;
    if (entry.expiresAtMs !== null && entry.expiresAtMs <= this.clock.nowMs()) {
      this.secretIds.delete(secretId);
      return undefined;
    }
    return entry;
  }

  private login(body: RequestBody): Reply {
    if (this.locked) return permissionDeniedReply();
    const roleId = readString(body, 'role_id');
    if (roleId === '') return badRequest('missing role_id');
    const role = [...this.roles.values()].find((r) => r.roleId === roleId);
    if (!role) return badRequest(INVALID_CREDENTIALS);
    let metadata: Record<string, string> = {};
    if (role.bindSecretId) {
      const secretId = readString(body, 'secret_id');
      if (secretId === '') return badRequest('missing secret_id');
      const entry = this.validSecretId(role, secretId);
      if (!entry) return badRequest(INVALID_CREDENTIALS);
      if (entry.limited) {
        entry.usesLeft -= 1;
        if (entry.usesLeft <= 0) this.secretIds.delete(entry.secretId);
      }
      metadata = { ...entry.metadata };
    }
    const { entry } = this.tokens.create({
      policies: role.tokenPolicies,
      ttl: role.tokenTtl,
      period: role.tokenPeriod,
      backendMaxTtl: role.tokenMaxTtl,
      explicitMaxTtl: role.tokenExplicitMaxTtl,
      numUses: role.tokenNumUses,
      parentId: null,
      path: 'auth/approle/login',
      displayName: 'approle',
      meta: { ...metadata, role_name: role.name },
      entityId: role.entityId,
      backendParams: () => this.renewalParams(role.name),
    });
    return okReply(this.site, null, { auth: this.tokens.authBlock(entry) });
  }

  /** Renewal re-reads the role, so TTL changes made after login apply. */
  private renewalParams(roleName: string): BackendTokenParams | string {
    const role = this.roles.get(roleName);
    if (!role) return `failed to renew entry: role "${roleName}" does not exist during renewal`;
    return { ttl: role.tokenTtl, maxTtl: role.tokenMaxTtl, period: role.tokenPeriod };
  }
}

/** secret-id `metadata` is a JSON-encoded string map in Vault; an object is accepted too. */
function parseSecretMetadata(body: RequestBody): Record<string, string> {
  const raw = body.metadata;
  let value: unknown = raw;
  if (typeof raw === 'string' && raw !== '') {
    try {
      value = JSON.parse(raw);
    } catch {
      return {};
    }
  }
  if (!value || typeof value !== 'object' || Array.isArray(value)) return {};
  return Object.fromEntries(Object.entries(value as Record<string, unknown>).map(([k, v]) => [k, String(v)]));
}

function roleData(role: AppRole): Record<string, unknown> {
  return {
    bind_secret_id: role.bindSecretId,
    local_secret_ids: false,
    secret_id_bound_cidrs: null,
    secret_id_num_uses: role.secretIdNumUses,
    secret_id_ttl: role.secretIdTtl,
    token_bound_cidrs: [],
    token_explicit_max_ttl: role.tokenExplicitMaxTtl,
    token_max_ttl: role.tokenMaxTtl,
    token_no_default_policy: false,
    token_num_uses: role.tokenNumUses,
    token_period: role.tokenPeriod,
    token_policies: role.tokenPolicies,
    token_ttl: role.tokenTtl,
    token_type: 'default',
  };
}
