import { KmsError } from '../../../ports/errors';
import { vaultErrorText, type VaultOperation } from '../vault-errors';
import type { VaultResponse } from '../vault-http-client';
import { errorsOf } from '../vault-errors';

/**
 * A login Vault refused (400, 401 or 403) as a permission-denied error that
 * says which login and what to check. Classified here rather than by
 * classifyVaultError, which reads 401/403 as "our token is bad": a login
 * sends no token, so the credential or the role is what Vault refused.
 * Undefined for any other status.
 */
export function loginRefusal(res: VaultResponse, op: VaultOperation, hint: string): KmsError | undefined {
  if (res.status !== 400 && res.status !== 401 && res.status !== 403) return undefined;
  const text = vaultErrorText(errorsOf(res));
  return new KmsError('permission-denied', `Vault refused the ${op.what} at ${op.path} (HTTP ${res.status}: ${text}): ${hint}`);
}
