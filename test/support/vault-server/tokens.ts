/**
 * Token store: service tokens, their leases, lookup and renewal
 * (vault-api.md §4 and §8). The TTL maths live in token-ttl.ts.
 */
import { GoMap } from './go-json';
import { ServerClock, formatGoTime } from './time';
import { calculateTtl, randomBase62, sanitizePolicies } from './token-ttl';

/** TTL knobs re-read from an auth backend (AppRole role) at renewal time. */
export interface BackendTokenParams {
  readonly ttl: number;
  readonly maxTtl: number;
  readonly period: number;
}

/** Lets renewal consult the login backend; a string is a renewal error (500). */
export type BackendParamsResolver = () => BackendTokenParams | string;

export interface TokenEntry {
  readonly id: string;
  readonly accessor: string;
  readonly policies: readonly string[];
  readonly path: string;
  readonly displayName: string;
  readonly meta: Readonly<Record<string, string>> | null;
  /** Remaining uses when `limitedUses`; 0 otherwise (= unlimited, as Vault shows it). */
  numUses: number;
  readonly limitedUses: boolean;
  readonly parentId: string | null;
  readonly issueMs: number;
  readonly creationTtl: number;
  /** Current lease length in seconds (0 = never expires). */
  ttl: number;
  expireAtMs: number | null;
  readonly explicitMaxTtl: number;
  readonly period: number;
  readonly renewable: boolean;
  lastRenewalMs: number | null;
  readonly entityId: string;
  readonly backendParams: BackendParamsResolver | null;
}

export interface TokenSpec {
  readonly policies: readonly string[];
  readonly noDefaultPolicy?: boolean;
  readonly ttl?: number;
  readonly period?: number;
  readonly explicitMaxTtl?: number;
  readonly backendMaxTtl?: number;
  readonly renewable?: boolean;
  readonly numUses?: number;
  readonly parentId?: string | null;
  readonly path: string;
  readonly displayName: string;
  readonly meta?: Readonly<Record<string, string>> | null;
  readonly entityId?: string;
  readonly backendParams?: BackendParamsResolver | null;
}

export class TokenStore {
  private readonly byId = new Map<string, TokenEntry>();

  constructor(private readonly clock: ServerClock) {}

  clear(): void {
    this.byId.clear();
  }

  /** Creates and stores a token; `warnings` are the TTL-capping messages. */
  create(spec: TokenSpec, fixedId?: string): { entry: TokenEntry; warnings: string[] } {
    const nowMs = this.clock.nowMs();
    const policies = sanitizePolicies(spec.policies, !spec.noDefaultPolicy);
    const isRoot = policies.includes('root');
    let ttl = 0;
    let warnings: string[] = [];
    const wantsLease = !isRoot || (spec.ttl ?? 0) > 0 || (spec.period ?? 0) > 0 || (spec.explicitMaxTtl ?? 0) > 0;
    if (wantsLease) {
      const result = calculateTtl({
        nowMs,
        issueMs: nowMs,
        increment: 0,
        backendTtl: spec.ttl ?? 0,
        period: spec.period ?? 0,
        backendMaxTtl: spec.backendMaxTtl ?? 0,
        explicitMaxTtl: spec.explicitMaxTtl ?? 0,
      });
      if ('error' in result) throw new Error(result.error);
      ttl = result.ttl;
      warnings = result.warnings;
    }
    const numUses = spec.numUses ?? 0;
    const entry: TokenEntry = {
      id: fixedId ?? 'hvs.' + randomBase62(90),
      accessor: randomBase62(24),
      policies,
      path: spec.path,
      displayName: spec.displayName,
      meta: spec.meta && Object.keys(spec.meta).length > 0 ? spec.meta : null,
      numUses,
      limitedUses: numUses > 0,
      parentId: spec.parentId ?? null,
      issueMs: nowMs,
      creationTtl: ttl,
      ttl,
      expireAtMs: ttl > 0 ? nowMs + ttl * 1000 : null,
      explicitMaxTtl: spec.explicitMaxTtl ?? 0,
      period: spec.period ?? 0,
      renewable: ttl > 0 && (spec.renewable ?? true),
      lastRenewalMs: null,
      entityId: spec.entityId ?? '',
      backendParams: spec.backendParams ?? null,
    };
    this.byId.set(entry.id, entry);
    return { entry, warnings };
  }

  /** A live token, or undefined for unknown, revoked and expired ones (expired are revoked now). */
  lookupValid(id: string): TokenEntry | undefined {
    const entry = this.byId.get(id);
    if (entry === undefined) return undefined;
    if (entry.expireAtMs !== null && entry.expireAtMs <= this.clock.nowMs()) {
      this.revoke(id);
      return undefined;
    }
    return entry;
  }

  /** num_uses: the request that spends the last use still succeeds; the token is gone afterwards. */
  consumeUse(entry: TokenEntry): void {
    if (!entry.limitedUses) return;
    entry.numUses -= 1;
    if (entry.numUses <= 0) {
      entry.numUses = 0;
      this.revoke(entry.id);
    }
  }

  /** Revokes a token and, recursively, its non-orphan children. */
  revoke(id: string): void {
    if (!this.byId.delete(id)) return;
    for (const child of [...this.byId.values()]) {
      if (child.parentId === id) this.revoke(child.id);
    }
  }

  /** renew-self / renew. Returns the new lease or an HTTP-ish error. */
  renew(entry: TokenEntry, increment: number): { ttl: number; warnings: string[] } | { status: number; error: string } {
    if (!entry.renewable || entry.expireAtMs === null) return { status: 400, error: 'lease is not renewable' };
    let backendTtl = entry.ttl;
    let backendMaxTtl = 0;
    let period = entry.period;
    if (entry.backendParams) {
      const params = entry.backendParams();
      if (typeof params === 'string') return { status: 500, error: params };
      backendTtl = params.ttl;
      backendMaxTtl = params.maxTtl;
      period = params.period;
    }
    const nowMs = this.clock.nowMs();
    const result = calculateTtl({
      nowMs,
      issueMs: entry.issueMs,
      increment,
      backendTtl,
      period,
      backendMaxTtl,
      explicitMaxTtl: entry.explicitMaxTtl,
    });
    if ('error' in result) return { status: 500, error: result.error };
    entry.ttl = result.ttl;
    entry.expireAtMs = nowMs + result.ttl * 1000;
    entry.lastRenewalMs = nowMs;
    return result;
  }

  /** `data` of lookup-self (vault-api.md §4.1). */
  lookupData(entry: TokenEntry): Record<string, unknown> {
    const nowMs = this.clock.nowMs();
    const data: Record<string, unknown> = {
      accessor: entry.accessor,
      creation_time: Math.floor(entry.issueMs / 1000),
      creation_ttl: entry.creationTtl,
      display_name: entry.displayName,
      entity_id: entry.entityId,
      expire_time: null,
      explicit_max_ttl: entry.explicitMaxTtl,
      id: entry.id,
      meta: entry.meta ? new GoMap(entry.meta) : null,
      num_uses: entry.numUses,
      orphan: entry.parentId === null,
      path: entry.path,
      policies: entry.policies,
      ttl: 0,
      type: 'service',
    };
    if (entry.period > 0) data.period = entry.period;
    if (entry.expireAtMs !== null) {
      // Vault: ExpireTime - now.Round(1s), truncated to whole seconds.
      data.ttl = Math.trunc((entry.expireAtMs - Math.round(nowMs / 1000) * 1000) / 1000);
      data.expire_time = formatGoTime(entry.expireAtMs);
      data.renewable = entry.renewable;
      data.issue_time = formatGoTime(entry.issueMs);
      if (entry.lastRenewalMs !== null) {
        data.last_renewal_time = Math.floor(entry.lastRenewalMs / 1000);
        data.last_renewal = formatGoTime(entry.lastRenewalMs);
      }
    }
    return data;
  }

  /** The struct-ordered `auth` block of login, create and renew responses. */
  authBlock(entry: TokenEntry): Record<string, unknown> {
    return {
      client_token: entry.id,
      accessor: entry.accessor,
      policies: entry.policies,
      token_policies: entry.policies.length > 0 ? entry.policies : undefined,
      metadata: entry.meta ? new GoMap(entry.meta) : null,
      lease_duration: entry.ttl,
      renewable: entry.renewable,
      entity_id: entry.entityId,
      token_type: 'service',
      orphan: entry.parentId === null,
      mfa_requirement: null,
      num_uses: entry.numUses,
    };
  }
}
