/**
 * A small Vault ACL model: policies are lists of {path, capabilities}.
 *
 * Path patterns follow Vault: an exact path, a trailing `*` (prefix glob), or
 * `+` as a whole segment (exactly one segment). When several patterns match,
 * the most specific one wins (Vault's priority rules), and the capabilities
 * of identical patterns from different policies are merged. `deny` wins
 * within a merged pattern. Globs are compiled when a policy is written, never
 * per request, and a token's merged ACL is cached per policy set.
 */

export const CAPABILITIES = ['create', 'read', 'update', 'delete', 'list', 'sudo', 'deny'] as const;
export type Capability = (typeof CAPABILITIES)[number];
export type Operation = 'create' | 'read' | 'update' | 'delete' | 'list';

export interface PolicyRule {
  readonly path: string;
  readonly capabilities: readonly Capability[];
}

interface GlobRule {
  readonly pattern: string;
  readonly matcher: RegExp;
  readonly capabilities: ReadonlySet<Capability>;
  readonly firstWildcard: number;
  readonly endsWithStar: boolean;
  readonly plusSegments: number;
}

const REGEX_SPECIAL = /[.*+?^${}()|[\]\\]/g;

function isGlob(pattern: string): boolean {
  return pattern.endsWith('*') || pattern.split('/').includes('+');
}

function compileGlob(pattern: string, capabilities: ReadonlySet<Capability>): GlobRule {
  const endsWithStar = pattern.endsWith('*');
  const body = endsWithStar ? pattern.slice(0, -1) : pattern;
  const segments = body.split('/');
  const source = segments.map((s) => (s === '+' ? '[^/]+' : s.replace(REGEX_SPECIAL, '\\$&'))).join('/');
  const plusIndex = segments.includes('+') ? body.indexOf('+') : -1;
  const starIndex = endsWithStar ? pattern.length - 1 : -1;
  const candidates = [plusIndex, starIndex].filter((i) => i >= 0);
  return {
    pattern,
    matcher: new RegExp('^' + source + (endsWithStar ? '' : '$')),
    capabilities,
    firstWildcard: candidates.length > 0 ? Math.min(...candidates) : pattern.length,
    endsWithStar,
    plusSegments: segments.filter((s) => s === '+').length,
  };
}

/** Vault's documented priority order; returns > 0 when `a` beats `b`. */
function comparePriority(a: GlobRule, b: GlobRule): number {
  if (a.firstWildcard !== b.firstWildcard) return a.firstWildcard - b.firstWildcard;
  if (a.endsWithStar !== b.endsWithStar) return a.endsWithStar ? -1 : 1;
  if (a.plusSegments !== b.plusSegments) return b.plusSegments - a.plusSegments;
  if (a.pattern.length !== b.pattern.length) return a.pattern.length - b.pattern.length;
  return a.pattern < b.pattern ? -1 : a.pattern > b.pattern ? 1 : 0;
}

/** The merged rules of one token's policy set. */
export class Acl {
  private readonly exact = new Map<string, ReadonlySet<Capability>>();
  private readonly globs: GlobRule[] = [];

  constructor(rules: readonly PolicyRule[]) {
    const merged = new Map<string, Set<Capability>>();
    for (const rule of rules) {
      const caps = merged.get(rule.path) ?? new Set<Capability>();
      for (const c of rule.capabilities) caps.add(c);
      merged.set(rule.path, caps);
    }
    for (const [pattern, caps] of merged) {
      const effective: ReadonlySet<Capability> = caps.has('deny') ? new Set<Capability>(['deny']) : caps;
      if (isGlob(pattern)) this.globs.push(compileGlob(pattern, effective));
      else this.exact.set(pattern, effective);
    }
    this.globs.sort((a, b) => comparePriority(b, a));
  }

  capabilitiesFor(path: string): ReadonlySet<Capability> {
    const exact = this.exact.get(path);
    if (exact) return exact;
    for (const glob of this.globs) if (glob.matcher.test(path)) return glob.capabilities;
    return new Set();
  }

  allows(path: string, operation: Operation, needsSudo = false): boolean {
    const caps = this.capabilitiesFor(path);
    if (caps.has('deny')) return false;
    return caps.has(operation) && (!needsSudo || caps.has('sudo'));
  }
}

export class PolicyStore {
  private readonly policies = new Map<string, readonly PolicyRule[]>();
  private readonly aclCache = new Map<string, Acl>();

  set(name: string, rules: readonly PolicyRule[]): void {
    this.policies.set(name, rules);
    this.aclCache.clear();
  }

  get(name: string): readonly PolicyRule[] | undefined {
    return this.policies.get(name);
  }

  delete(name: string): boolean {
    this.aclCache.clear();
    return this.policies.delete(name);
  }

  names(): string[] {
    return [...this.policies.keys(), 'root'].sort();
  }

  clear(): void {
    this.policies.clear();
    this.aclCache.clear();
  }

  /** Unknown policy names contribute nothing, as in Vault. */
  aclFor(policyNames: readonly string[]): Acl {
    const key = policyNames.join('\n');
    let acl = this.aclCache.get(key);
    if (!acl) {
      acl = new Acl(policyNames.flatMap((n) => this.policies.get(n) ?? []));
      this.aclCache.set(key, acl);
    }
    return acl;
  }
}

/** Vault's default policy, reduced to the token self-service paths. */
export const DEFAULT_POLICY: readonly PolicyRule[] = [
  { path: 'auth/token/lookup-self', capabilities: ['read'] },
  { path: 'auth/token/renew-self', capabilities: ['update'] },
  { path: 'auth/token/revoke-self', capabilities: ['update'] },
];

/** The upstream kms-policy.hcl (for mount `transit`, key `kms`) plus renew-self. */
export const KMS_POLICY: readonly PolicyRule[] = [
  { path: 'auth/token/lookup-self', capabilities: ['read'] },
  { path: 'transit/encrypt/kms', capabilities: ['update'] },
  { path: 'transit/decrypt/kms', capabilities: ['update'] },
  { path: 'transit/keys/kms', capabilities: ['read'] },
  { path: 'auth/token/renew-self', capabilities: ['update'] },
];
