/**
 * One wording of a failed connection to Vault for every place that reports it
 * (request errors, the addresses' check behind /health and Status, the log),
 * so that a TLS trust problem reads as such, with the option that fixes it,
 * as `check` says it.
 */
export function describeNetworkError(e: unknown): string {
  const err = e as { code?: string; cause?: { code?: string }; message?: string };
  const code = err.code ?? err.cause?.code ?? (err.message ? err.message.slice(0, 120) : 'connection error');
  return describeNetworkCode(code);
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
