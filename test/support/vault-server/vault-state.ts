/**
 * Everything one emulated server holds, the mount table, and the seed data
 * that /_test/reset restores.
 */
import { randomUUID } from 'node:crypto';
import { AppRoleBackend } from './approle-backend';
import type { Backend } from './backend';
import type { Flavor } from './envelope';
import { FaultInjector } from './faults';
import { DEFAULT_POLICY, KMS_POLICY, PolicyStore } from './policies';
import { RequestStats } from './stats';
import { SysBackend, SysControl } from './sys-backend';
import { ServerClock } from './time';
import { TokenBackend } from './token-backend';
import { randomBase62 } from './token-ttl';
import { TokenStore } from './tokens';
import { TransitBackend } from './transit-backend';
import { TransitKey } from './transit-keys';

export interface MountMatch {
  readonly backend: Backend;
  /** Mount path with trailing slash, e.g. "transit/". */
  readonly mountPath: string;
  /** Path inside the mount, e.g. "encrypt/kms". */
  readonly subPath: string;
}

/** Credentials of the seeded state, as printed by the CLI. */
export interface SeedCredentials {
  readonly rootToken: string;
  readonly kmsToken: string;
  readonly roleId: string;
  readonly secretId: string;
}

const KMS_TOKEN_TTL = 24 * 3600;

function normalizeMountPath(path: string): string {
  const trimmed = path.replace(/^\/+|\/+$/g, '');
  return trimmed === '' ? '' : trimmed + '/';
}

export class VaultState implements SysControl {
  readonly clock = new ServerClock();
  readonly policies = new PolicyStore();
  readonly tokens = new TokenStore(this.clock);
  readonly stats = new RequestStats();
  readonly faults = new FaultInjector();
  readonly tokenBackend: TokenBackend;
  readonly approle: AppRoleBackend;
  readonly sys: SysBackend;
  readonly rootToken = 'hvs.' + randomBase62(24);
  latencyMs: number;
  private isSealed = false;
  private mountTable: [string, Backend][] = [];
  private transitMounts = new Map<string, TransitBackend>();
  private seeded: SeedCredentials | undefined;

  constructor(
    readonly flavor: Flavor,
    private readonly initialLatencyMs = 0,
  ) {
    this.latencyMs = initialLatencyMs;
    this.tokenBackend = new TokenBackend(flavor, this.tokens);
    this.approle = new AppRoleBackend(flavor, this.clock, this.tokens);
    this.sys = new SysBackend(flavor, this, randomUUID());
    this.reset();
  }

  get credentials(): SeedCredentials {
    return this.seeded!;
  }

  sealed(): boolean {
    return this.isSealed;
  }

  seal(): void {
    this.isSealed = true;
  }

  unseal(): void {
    this.isSealed = false;
  }

  transit(mount = 'transit'): TransitBackend | undefined {
    return this.transitMounts.get(normalizeMountPath(mount));
  }

  mountTransit(path: string): string | null {
    const mountPath = normalizeMountPath(path);
    if (mountPath === '') return 'invalid mount path';
    const clash = this.mountTable.find(([p]) => p.startsWith(mountPath) || mountPath.startsWith(p));
    if (clash) return `path is already in use at ${clash[0]}`;
    this.transitMounts.set(mountPath, new TransitBackend(this.flavor, this.clock));
    this.rebuildMountTable();
    return null;
  }

  unmount(path: string): void {
    if (this.transitMounts.delete(normalizeMountPath(path))) this.rebuildMountTable();
  }

  mounts(): { path: string; type: string }[] {
    return this.mountTable.map(([path, backend]) => ({ path, type: backend.mountType }));
  }

  /** Longest-prefix mount lookup; the table is tiny and sorted longest first. */
  resolve(path: string): MountMatch | null {
    for (const [mountPath, backend] of this.mountTable) {
      if (path.startsWith(mountPath)) return { backend, mountPath, subPath: path.slice(mountPath.length) };
      if (path.length === mountPath.length - 1 && mountPath.startsWith(path)) return { backend, mountPath, subPath: '' };
    }
    return null;
  }

  /** Fresh state: mount `transit` with key `kms`, policies, role `kms`, new kms token. */
  reset(): SeedCredentials {
    this.clock.reset();
    this.tokens.clear();
    this.policies.clear();
    this.stats.reset();
    this.faults.clear();
    this.latencyMs = this.initialLatencyMs;
    this.isSealed = false;
    this.approle.clear();
    this.transitMounts = new Map();
    this.rebuildMountTable();

    this.tokens.create({ policies: ['root'], path: 'auth/token/root', displayName: 'root' }, this.rootToken);
    this.policies.set('default', DEFAULT_POLICY);
    this.policies.set('kms', KMS_POLICY);
    this.mountTransit('transit');
    const transit = this.transit('transit')!;
    transit.state.keys.set(
      'kms',
      new TransitKey(
        'kms',
        { type: 'aes256-gcm96', derived: false, exportable: false, allowPlaintextBackup: false, autoRotatePeriod: 0 },
        this.clock.nowSeconds(),
      ),
    );
    // Role `kms`: 1h tokens renewable up to 24h, unlimited secret IDs.
    this.approle.writeRole('kms', { token_policies: ['kms'], token_ttl: 3600, token_max_ttl: 86400 });
    const secret = this.approle.createSecretId('kms');
    const kmsToken = this.tokens.create({
      policies: ['kms'],
      ttl: KMS_TOKEN_TTL,
      renewable: true,
      parentId: null,
      path: 'auth/token/create-orphan',
      displayName: 'token-kms',
    }).entry;
    this.seeded = {
      rootToken: this.rootToken,
      kmsToken: kmsToken.id,
      roleId: this.approle.roles.get('kms')!.roleId,
      secretId: secret.secretId,
    };
    return this.seeded;
  }

  private rebuildMountTable(): void {
    const table: [string, Backend][] = [
      ['sys/', this.sys],
      ['auth/token/', this.tokenBackend],
      ['auth/approle/', this.approle],
      ...[...this.transitMounts.entries()],
    ];
    this.mountTable = table.sort((a, b) => b[0].length - a[0].length);
  }
}
