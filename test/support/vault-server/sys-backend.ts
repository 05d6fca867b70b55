/**
 * sys/*: health and seal status (vault-api.md §6), seal/unseal, transit
 * mounts and ACL policies.
 */
import type { Backend, VaultRequest } from './backend';
import { splitPath } from './backend';
import type { Flavor, Reply, ResponseSite } from './envelope';
import { NO_CONTENT, badRequest, errorReply, jsonReply, notFoundReply, okReply, unsupportedOperationReply } from './envelope';
import { GoMap } from './go-json';
import type { PolicyStore } from './policies';
import { parsePolicyDocument, policyText } from './policy-documents';
import { readBool, readString } from './request-fields';
import type { ServerClock } from './time';

/** The parts of the server that sys/* can change. */
export interface SysControl {
  readonly clock: ServerClock;
  readonly policies: PolicyStore;
  sealed(): boolean;
  seal(): void;
  unseal(): void;
  /** Returns an error message, or null on success. */
  mountTransit(path: string): string | null;
  unmount(path: string): void;
  mounts(): { path: string; type: string }[];
}

const HEALTH_CODE_PARAMS = [
  'activecode',
  'standbycode',
  'drsecondarycode',
  'performancestandbycode',
  'sealedcode',
  'uninitcode',
  'haunhealthycode',
  'removedcode',
] as const;
const HEALTH_BOOL_PARAMS = ['standbyok', 'perfstandbyok'] as const;
const ATOI = /^[+-]?\d+$/;
const GO_BOOL = new Set(['1', 't', 'T', 'TRUE', 'true', 'True', '0', 'f', 'F', 'FALSE', 'false', 'False']);

const UNAUTHENTICATED = new Set(['health', 'seal-status', 'unseal']);

export class SysBackend implements Backend {
  readonly mountType = 'system';
  private readonly site: ResponseSite;
  readonly clusterName = 'vault-cluster-testserver';
  readonly clusterId: string;

  constructor(
    private readonly flavor: Flavor,
    private readonly control: SysControl,
    clusterId: string,
  ) {
    this.site = { flavor, mountType: this.mountType };
    this.clusterId = clusterId;
  }

  get version(): string {
    return this.flavor === 'vault' ? '1.18.1' : '2.1.0';
  }

  /** health, seal-status and unseal need no token and keep working while sealed. */
  isUnauthenticated(subPath: string): boolean {
    return UNAUTHENTICATED.has(subPath);
  }

  needsSudo(subPath: string): boolean {
    return subPath === 'seal';
  }

  handle(req: VaultRequest, subPath: string): Reply | null {
    const op = req.operation;
    const writes = op === 'update' || op === 'create';
    const parts = splitPath(subPath);
    switch (parts[0]) {
      case 'health':
        return parts.length === 1 ? (op === 'read' ? this.health(req.query) : unsupportedOperationReply()) : null;
      case 'seal-status':
        return parts.length === 1 ? (op === 'read' ? jsonReply(200, this.sealStatus()) : unsupportedOperationReply()) : null;
      case 'seal':
        if (parts.length !== 1) return null;
        if (!writes) return unsupportedOperationReply();
        this.control.seal();
        return NO_CONTENT;
      case 'unseal':
        return parts.length === 1 ? (writes ? this.unseal(req) : unsupportedOperationReply()) : null;
      case 'mounts':
        return this.handleMounts(req, parts.slice(1).join('/'));
      case 'policies':
        if (parts[1] !== 'acl') return null;
        return this.handlePolicies(req, parts.slice(2).join('/'));
      default:
        return null;
    }
  }

  private health(query: URLSearchParams): Reply {
    const codes = new Map<string, number>();
    for (const param of HEALTH_CODE_PARAMS) {
      const raw = query.get(param);
      if (raw === null) continue;
      if (!ATOI.test(raw)) return errorReply(400);
      codes.set(param, Number.parseInt(raw, 10));
    }
    for (const param of HEALTH_BOOL_PARAMS) {
      const raw = query.get(param);
      if (raw !== null && raw !== '' && !GO_BOOL.has(raw)) return errorReply(400);
    }
    const sealed = this.control.sealed();
    const status = sealed ? (codes.get('sealedcode') ?? 503) : (codes.get('activecode') ?? 200);
    const serverTime = this.control.clock.nowSeconds();
    const cluster = sealed ? {} : { cluster_name: this.clusterName, cluster_id: this.clusterId };
    if (this.flavor === 'openbao') {
      return jsonReply(status, {
        initialized: true,
        sealed,
        standby: false,
        replication_performance_mode: 'disabled',
        replication_dr_mode: 'disabled',
        server_time_utc: serverTime,
        version: this.version,
        ...cluster,
      });
    }
    return jsonReply(status, {
      initialized: true,
      sealed,
      standby: false,
      performance_standby: false,
      replication_performance_mode: 'disabled',
      replication_dr_mode: 'disabled',
      server_time_utc: serverTime,
      version: this.version,
      enterprise: false,
      ...cluster,
      echo_duration_ms: 0,
      clock_skew_ms: 0,
      replication_primary_canary_age_ms: 0,
    });
  }

  sealStatus(): Record<string, unknown> {
    const sealed = this.control.sealed();
    const cluster = sealed ? {} : { cluster_name: this.clusterName, cluster_id: this.clusterId };
    return {
      type: 'shamir',
      initialized: true,
      sealed,
      t: 1,
      n: 1,
      progress: 0,
      nonce: '',
      version: this.version,
      build_date: '2024-10-29T14:21:31Z',
      commit_date: this.flavor === 'openbao' ? '2024-10-29T14:21:31Z' : undefined,
      migration: false,
      ...cluster,
      recovery_seal: false,
      storage_type: 'inmem',
    };
  }

  /** Any non-empty key unseals (threshold 1): the emulator has no real key shares. */
  private unseal(req: VaultRequest): Reply {
    if (readBool(req.body, 'reset')) return jsonReply(200, this.sealStatus());
    if (readString(req.body, 'key') === '') {
      return badRequest("'key' must be specified in request body as JSON, or 'reset' set to true");
    }
    this.control.unseal();
    return jsonReply(200, this.sealStatus());
  }

  private handleMounts(req: VaultRequest, mountPath: string): Reply | null {
    const op = req.operation;
    if (mountPath === '') {
      if (op !== 'read') return unsupportedOperationReply();
      const data: Record<string, unknown> = {};
      for (const m of this.control.mounts()) data[m.path] = new GoMap({ type: m.type, description: '', local: false });
      return okReply(this.site, data);
    }
    if (op === 'delete') {
      this.control.unmount(mountPath);
      return NO_CONTENT;
    }
    if (op !== 'update' && op !== 'create') return unsupportedOperationReply();
    const type = readString(req.body, 'type');
    if (type === '') return badRequest('backend type must be specified as a string');
    if (type !== 'transit') return badRequest(`plugin not found in the catalog: ${type}`);
    const error = this.control.mountTransit(mountPath);
    return error ? badRequest(error) : NO_CONTENT;
  }

  private handlePolicies(req: VaultRequest, name: string): Reply {
    const op = req.operation;
    const policies = this.control.policies;
    if (name === '') return op === 'list' ? okReply(this.site, { keys: policies.names() }) : unsupportedOperationReply();
    if (op === 'read') {
      if (name === 'root') return okReply(this.site, { name, policy: '', rules: [] });
      const rules = policies.get(name);
      return rules ? okReply(this.site, { name, policy: policyText(rules), rules }) : notFoundReply();
    }
    if (op === 'delete') {
      if (name === 'root' || name === 'default') return badRequest(`cannot delete "${name}" policy`);
      policies.delete(name);
      return NO_CONTENT;
    }
    if (op !== 'update' && op !== 'create') return unsupportedOperationReply();
    if (name === 'root') return badRequest('cannot update "root" policy');
    const parsed = parsePolicyDocument(req.body);
    if (!parsed.ok) return badRequest(parsed.error);
    policies.set(name, parsed.rules);
    return NO_CONTENT;
  }
}
