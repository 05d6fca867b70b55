import { ProxiedServer } from './fault-proxy';
import type { RealServerKind } from './real-server';

/**
 * The Vault-backed end-to-end suites run against every backend named in
 * KMS_TEST_VAULT_BACKENDS (comma-separated; default both):
 *   openbao  a real OpenBao dev server;
 *   vault    a real HashiCorp Vault (Community Edition) dev server.
 * Each sits behind a FaultProxy (test/support/fault-proxy.ts): the plugin is pointed at the proxy, which counts
 * its requests and injects the faults a healthy server never shows.
 */
export type BackendName = RealServerKind;

export type VaultBackend = ProxiedServer & { readonly name: BackendName };

export function backendNames(): BackendName[] {
  const raw = process.env.KMS_TEST_VAULT_BACKENDS ?? 'openbao,vault';
  const names = raw.split(',').map((s) => s.trim()).filter(Boolean);
  for (const n of names) if (n !== 'openbao' && n !== 'vault') throw new Error(`KMS_TEST_VAULT_BACKENDS: unknown backend ${n} (openbao or vault)`);
  // An empty list would run no Vault test at all and pass: refuse it instead.
  if (names.length === 0) throw new Error(`KMS_TEST_VAULT_BACKENDS="${raw}" names no backend; give openbao, vault or both (unset: both)`);
  return names as BackendName[];
}

export async function startBackend(name: BackendName): Promise<VaultBackend> {
  return Object.assign(await ProxiedServer.start({ kind: name }), { name });
}
