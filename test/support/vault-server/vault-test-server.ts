/**
 * Public, in-process API of the Vault test server.
 *
 *   const vault = await startVaultTestServer();
 *   // ... point the plugin at vault.url with vault.kmsToken ...
 *   await vault.close();
 */
import type { Server } from 'node:http';
import type { Flavor } from './envelope';
import type { FaultRule } from './faults';
import { TlsMaterial, VaultHttpFrontend, listen } from './server';
import { CreateTokenOptions, tokenRequestBody } from './token-backend';
import { SeedCredentials, VaultState } from './vault-state';

export interface VaultTestServerOptions {
  /** 0 (default) picks a free port. */
  readonly port?: number;
  /** Default 127.0.0.1. */
  readonly host?: string;
  /** "vault" (default): mount_type field, Vault >= 1.17 403 texts. "openbao": neither. */
  readonly flavor?: Flavor;
  /** Delay added before every /v1 response. */
  readonly latencyMs?: number;
  /** Serve HTTPS with this certificate and key (PEM text or file paths). */
  readonly tls?: TlsMaterial;
}

export interface CreatedTestToken {
  readonly token: string;
  readonly accessor: string;
  /** Lease granted at creation, in seconds (0 = no expiry). */
  readonly leaseDuration: number;
  readonly warnings: readonly string[];
}

export interface CreatedSecretId {
  readonly secretId: string;
  readonly accessor: string;
}

export interface VaultTestServer {
  readonly url: string;
  readonly flavor: Flavor;
  readonly rootToken: string;
  /** Orphan token with policies [default, kms], ttl 24h, renewable. Changes after reset(). */
  readonly kmsToken: string;
  /** AppRole role `kms` (1h tokens, max 24h). Changes after reset(). */
  readonly roleId: string;
  readonly secretId: string;
  stats(): Record<string, number>;
  resetStats(): void;
  setLatency(ms: number): void;
  seal(): void;
  unseal(): void;
  addFault(rule: FaultRule | readonly FaultRule[]): void;
  clearFaults(): void;
  advanceClock(seconds: number): void;
  /** Stop the server clock (advanceClock still moves it): exact TTL assertions. */
  freezeClock(): void;
  unfreezeClock(): void;
  /** Server time in Unix seconds. */
  nowSeconds(): number;
  /** Rotates a transit key; returns its new latest version. */
  rotateKey(name?: string, mount?: string): number;
  /** Creates a token as root. Tokens are children of root unless `orphan` is set. */
  createToken(options?: CreateTokenOptions): CreatedTestToken;
  createSecretId(role?: string, options?: { ttl?: number; numUses?: number; metadata?: Record<string, string> }): CreatedSecretId;
  /** AppRole logins answer 403 while locked. */
  lockAppRole(locked: boolean): void;
  /** Fresh state, as POST /_test/reset; returns the new credentials. */
  reset(): SeedCredentials;
  close(): Promise<void>;
}

class RunningVaultTestServer implements VaultTestServer {
  constructor(
    readonly url: string,
    private readonly state: VaultState,
    private readonly server: Server,
    private readonly frontend: VaultHttpFrontend,
  ) {}

  get flavor(): Flavor {
    return this.state.flavor;
  }
  get rootToken(): string {
    return this.state.rootToken;
  }
  get kmsToken(): string {
    return this.state.credentials.kmsToken;
  }
  get roleId(): string {
    return this.state.credentials.roleId;
  }
  get secretId(): string {
    return this.state.credentials.secretId;
  }

  stats(): Record<string, number> {
    return this.state.stats.snapshot();
  }
  resetStats(): void {
    this.state.stats.reset();
  }
  setLatency(ms: number): void {
    this.state.latencyMs = ms;
  }
  seal(): void {
    this.state.seal();
  }
  unseal(): void {
    this.state.unseal();
  }
  addFault(rule: FaultRule | readonly FaultRule[]): void {
    this.state.faults.add(Array.isArray(rule) ? rule : [rule]);
  }
  clearFaults(): void {
    this.state.faults.clear();
  }
  advanceClock(seconds: number): void {
    this.state.clock.advance(seconds);
  }
  freezeClock(): void {
    this.state.clock.freeze();
  }
  unfreezeClock(): void {
    this.state.clock.unfreeze();
  }
  nowSeconds(): number {
    return this.state.clock.nowSeconds();
  }

  rotateKey(name = 'kms', mount = 'transit'): number {
    const key = this.state.transit(mount)?.state.keys.get(name);
    if (!key) throw new Error(`no transit key ${mount}/${name}`);
    return key.rotate(this.state.clock.nowSeconds());
  }

  createToken(options: CreateTokenOptions = {}): CreatedTestToken {
    const root = this.state.tokens.lookupValid(this.state.rootToken);
    if (!root) throw new Error('the root token was revoked; call reset()');
    const created = this.state.tokenBackend.createEntry(root, tokenRequestBody(options), options.orphan ?? false);
    if (!created.ok) throw new Error(`token creation failed: ${created.reply.body.trim()}`);
    return {
      token: created.entry.id,
      accessor: created.entry.accessor,
      leaseDuration: created.entry.ttl,
      warnings: created.warnings,
    };
  }

  createSecretId(role = 'kms', options: { ttl?: number; numUses?: number; metadata?: Record<string, string> } = {}): CreatedSecretId {
    const entry = this.state.approle.createSecretId(role, options);
    return { secretId: entry.secretId, accessor: entry.accessor };
  }

  lockAppRole(locked: boolean): void {
    this.state.approle.locked = locked;
  }

  reset(): SeedCredentials {
    return this.state.reset();
  }

  close(): Promise<void> {
    return new Promise((resolve, reject) => {
      this.server.close((err) => (err ? reject(err) : resolve()));
      // close() waits for open sockets: drop keep-alive and hung requests now.
      this.frontend.destroyHanging();
      this.server.closeAllConnections();
    });
  }
}

export async function startVaultTestServer(options: VaultTestServerOptions = {}): Promise<VaultTestServer> {
  const flavor = options.flavor ?? 'vault';
  if (flavor !== 'vault' && flavor !== 'openbao') throw new Error(`unknown flavor ${String(flavor)}`);
  const state = new VaultState(flavor, options.latencyMs ?? 0);
  const frontend = new VaultHttpFrontend(state);
  const { server, url } = await listen(frontend, {
    port: options.port ?? 0,
    host: options.host ?? '127.0.0.1',
    tls: options.tls,
  });
  return new RunningVaultTestServer(url, state, server, frontend);
}
