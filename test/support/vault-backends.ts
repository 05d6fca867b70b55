import { RealServer } from './real-server';
import { startVaultTestServer, type VaultTestServer } from './vault-server/vault-test-server';

/**
 * The Vault-backed end-to-end suites run against every backend named in
 * KMS_TEST_VAULT_BACKENDS (comma-separated; default all three):
 *   openbao     a real OpenBao dev server (the real thing wins where they disagree);
 *   vault       a real HashiCorp Vault (Community Edition) dev server, likewise;
 *   test-server our Vault-API-compatible test server, which alone can inject
 *               faults and move the clock.
 */
export type BackendName = 'openbao' | 'vault' | 'test-server';

export interface VaultBackend {
  readonly name: BackendName;
  readonly url: string;
  readonly rootToken: string;
  /** A token with the kms policy only. Changes after reset(). */
  readonly kmsToken: string;
  readonly roleId: string;
  readonly secretId: string;
  /** Fresh `kms` key at version 1 and fresh credentials. */
  reset(): Promise<void>;
  /** Requests received from the plugin since resetStats(), by counter name (e.g. transit.encrypt). */
  stats(): Record<string, number>;
  resetStats(): void;
  rotateKey(): Promise<number>;
  seal(): Promise<void>;
  unseal(): Promise<void>;
  /** A token that may only use Vault's default policy (no transit access). */
  createTokenWithoutKmsPolicy(): Promise<string>;
  /** The test server itself, for faults and clock control; undefined for real servers. */
  readonly testServer: VaultTestServer | undefined;
  close(): Promise<void>;
}

export function backendNames(): BackendName[] {
  const raw = process.env.KMS_TEST_VAULT_BACKENDS ?? 'openbao,vault,test-server';
  const names = raw.split(',').map((s) => s.trim()).filter(Boolean);
  for (const n of names) if (n !== 'openbao' && n !== 'vault' && n !== 'test-server') throw new Error(`KMS_TEST_VAULT_BACKENDS: unknown backend ${n}`);
  // An empty list would run no Vault test at all and pass: refuse it instead.
  if (names.length === 0) throw new Error(`KMS_TEST_VAULT_BACKENDS="${raw}" names no backend; give openbao, vault, test-server or a list of them (unset: all three)`);
  return names as BackendName[];
}

export async function startBackend(name: BackendName): Promise<VaultBackend> {
  return name === 'test-server' ? testServerBackend(await startVaultTestServer({ flavor: 'openbao' })) : realServerBackend(await RealServer.start({ kind: name }));
}

function realServerBackend(bao: RealServer): VaultBackend {
  return {
    name: bao.kind,
    url: bao.url,
    get rootToken() {
      return bao.rootToken;
    },
    get kmsToken() {
      return bao.kmsToken;
    },
    get roleId() {
      return bao.roleId;
    },
    get secretId() {
      return bao.secretId;
    },
    reset: () => bao.reset(),
    stats: () => bao.stats(),
    resetStats: () => bao.resetStats(),
    rotateKey: () => bao.rotateKey(),
    seal: () => bao.seal(),
    unseal: () => bao.unseal(),
    createTokenWithoutKmsPolicy: async () => (await bao.createToken({ policies: ['default'], ttl: '1h' })).token,
    testServer: undefined,
    close: () => bao.close(),
  };
}

function testServerBackend(vault: VaultTestServer): VaultBackend {
  return {
    name: 'test-server',
    url: vault.url,
    get rootToken() {
      return vault.rootToken;
    },
    get kmsToken() {
      return vault.kmsToken;
    },
    get roleId() {
      return vault.roleId;
    },
    get secretId() {
      return vault.secretId;
    },
    reset: async () => {
      vault.reset();
    },
    stats: () => vault.stats(),
    resetStats: () => vault.resetStats(),
    rotateKey: async () => vault.rotateKey(),
    seal: async () => vault.seal(),
    unseal: async () => vault.unseal(),
    createTokenWithoutKmsPolicy: async () => vault.createToken({ policies: ['default'], orphan: true, ttl: 3600 }).token,
    testServer: vault,
    close: () => vault.close(),
  };
}
