import type { CallContext } from '../../ports/call-context';
import type { LoggerPort } from '../../ports/logger.port';
import type { VaultHttpClient } from './vault-http-client';

/**
 * Whether the server behind an address honours X-Vault-Namespace, from
 * sys/health's `enterprise` flag. HashiCorp Vault sends it: false in the
 * Community Edition, which has no namespaces and serves a request carrying
 * the header from the root namespace without a word (so with
 * -vault-namespace the plugin would wrap data keys with the root namespace's
 * key of that name). Vault Enterprise sends true. OpenBao does not send the
 * flag and honours namespaces in its free edition.
 */
export function ignoresNamespaces(health: unknown): boolean {
  return (health as { enterprise?: unknown } | undefined)?.enterprise === false;
}

/** The operator's way out, for the log line and for `check`. */
const NAMESPACE_FIX =
  'remove -vault-namespace (VAULT_KMS_VAULT_NAMESPACE, VAULT_NAMESPACE) and use a transit mount and key of the root namespace, or run a server with namespaces (Vault Enterprise, OpenBao)';

/**
 * At start with -vault-namespace: one unauthenticated sys/health, and a
 * warning when the server ignores namespaces. Nothing else changes: the
 * plugin serves as configured (an unreachable server is the health check's
 * business, so a failed request here says nothing).
 */
export async function warnIfNamespaceIgnored(http: VaultHttpClient, namespace: string, log: LoggerPort, ctx: CallContext): Promise<void> {
  try {
    const res = await http.request('GET', 'sys/health?standbyok=true&perfstandbyok=true&sealedcode=200&uninitcode=200', undefined, ctx, { authenticated: false, rootNamespace: true });
    if (res.status !== 200 || !ignoresNamespaces(res.body)) return;
    const version = (res.body as { version?: unknown }).version;
    log.warn('the Vault server ignores -vault-namespace: it is the Community Edition, which has no namespaces and serves every request from the root namespace (with the root namespace\'s transit key)', {
      vault_namespace: namespace,
      vault_version: typeof version === 'string' ? version : 'unknown',
      fix: NAMESPACE_FIX,
    });
  } catch {
    // No answer: the health check reports it.
  }
}
