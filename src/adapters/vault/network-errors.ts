import type { NetworkReason } from '../../ports/errors';

/**
 * One wording of a failed connection to Vault for every place that reports it
 * (request errors, the addresses' check behind /health and Status, the log),
 * so that a TLS trust problem reads as such, with the option that fixes it,
 * as `check` says it.
 */
export function describeNetworkError(e: unknown): string {
  const err = e as { message?: string };
  return describeNetworkCode(codeOf(e) ?? (err.message ? err.message.slice(0, 120) : 'connection error'));
}

/** Why the connection failed, from the error's code (Node's or undici's), for `check` to name a fix. */
export function networkReasonOf(e: unknown): NetworkReason {
  const code = codeOf(e) ?? '';
  if (/^(ENOTFOUND|EAI_AGAIN|EAI_NONAME|EAI_FAIL)$/.test(code)) return 'dns';
  if (/^(ECONNREFUSED|ENOENT|EHOSTUNREACH|ENETUNREACH)$/.test(code)) return 'refused';
  if (/^(UND_ERR_SOCKET|ECONNRESET|EPIPE)$/.test(code)) return 'closed';
  if (code === 'ERR_TLS_CERT_ALTNAME_INVALID') return 'tls-name';
  if (/CERT|SIGNATURE|SELF_SIGNED/.test(code)) return 'tls-untrusted';
  if (/^(EPROTO|ERR_SSL_|ERR_TLS_)/.test(code)) return 'tls-protocol';
  if (/TIMEOUT|ETIMEDOUT/.test(code)) return 'timeout';
  return 'other';
}

function codeOf(e: unknown): string | undefined {
  const err = e as { code?: string; cause?: { code?: string } } | undefined;
  return err?.code ?? err?.cause?.code;
}

/** True when the code names a TLS problem, not an unreachable host. */
export function isTlsCode(code: string): boolean {
  return /CERT|SIGNATURE|SELF_SIGNED|ERR_TLS|ERR_SSL|EPROTO/.test(code);
}

export function describeNetworkCode(code: string): string {
  if (code === 'ERR_TLS_CERT_ALTNAME_INVALID') {
    return `Vault's certificate does not name this host (${code}): use an address it names, or set VAULT_TLS_SERVER_NAME`;
  }
  if (/CERT|SIGNATURE|SELF_SIGNED/.test(code)) {
    return `Vault's certificate is not trusted (${code}): give -vault-ca-cert (VAULT_KMS_VAULT_CACERT, VAULT_CACERT) with the CA that issued it`;
  }
  if (/ERR_TLS|ERR_SSL|EPROTO/.test(code)) return `the TLS handshake with Vault failed (${code})`;
  return code;
}
