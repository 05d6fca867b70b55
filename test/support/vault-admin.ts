import type { VaultTestServer } from './vault-server/vault-test-server';

/** Root-token calls to the Vault test server's real API, for setting up fault scenarios. */
export async function vaultApi(vault: VaultTestServer, method: string, path: string, body?: unknown): Promise<{ status: number; json: any }> {
  const res = await fetch(`${vault.url}/v1/${path}`, {
    method,
    headers: { 'x-vault-token': vault.rootToken, 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, json: text ? JSON.parse(text) : undefined };
}

/** An AppRole role with its own TTLs; returns its credentials. */
export async function createAppRole(vault: VaultTestServer, name: string, role: Record<string, unknown>): Promise<{ roleId: string; secretId: string }> {
  await vaultApi(vault, 'POST', `auth/approle/role/${name}`, { token_policies: ['kms'], ...role });
  const roleId = (await vaultApi(vault, 'GET', `auth/approle/role/${name}/role-id`)).json.data.role_id as string;
  const secretId = (await vaultApi(vault, 'POST', `auth/approle/role/${name}/secret-id`, {})).json.data.secret_id as string;
  return { roleId, secretId };
}
