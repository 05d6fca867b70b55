import type { PluginConfig } from './config';

/** The effective configuration, with every secret replaced by whether it is set. */
export function startupFields(c: PluginConfig, version: string): Record<string, unknown> {
  const auth = c.auth;
  return {
    version,
    dev: c.dev,
    'auth-method': auth.method,
    socket: c.socketUrl,
    'socket-mode': `0${c.socketMode.toString(8)}`,
    debug: c.debug,
    'vault-address': (c.vault.addresses ?? [c.vault.address]).join(','),
    'vault-namespace': c.vault.namespace ?? '',
    'vault-redirect-origins': (c.vault.redirectOrigins ?? []).join(','),
    'vault-ca-cert': c.vault.caCertFile ?? '',
    'transit-mount': c.transitMount,
    'transit-key': c.transitKey,
    'health-port': `${c.health.host}:${c.health.port}`,
    'token-refresh-interval': `${c.tokenRefreshIntervalMs / 1000}s`,
    'token-renewal': c.tokenRenewalSeconds,
    'disable-v1': !c.enableV1,
    'disable-v2': !c.enableV2,
    ...(auth.method === 'token' ? { 'vault-token-set': whetherSet(auth.token, auth.tokenFile, '-token-file'), 'token-file': auth.tokenFile ?? '' } : {}),
    ...(auth.method === 'approle'
      ? {
          'approle-mount': auth.mount,
          'approle-role-id': auth.roleId,
          'approle-secret-id-set': whetherSet(auth.secretId, auth.secretIdFile, '-approle-secret-id-file'),
          'approle-secret-id-file': auth.secretIdFile ?? '',
        }
      : {}),
    ...authMethodStartupFields(auth),
  };
}

/** The userpass, cert and jwt settings: names and paths, never the password, key or JWT. */
function authMethodStartupFields(auth: PluginConfig['auth']): Record<string, unknown> {
  switch (auth.method) {
    case 'userpass':
      return {
        'userpass-mount': auth.mount,
        'userpass-username': auth.username,
        'userpass-password-set': whetherSet(auth.password, auth.passwordFile, '-userpass-password-file'),
        'userpass-password-file': auth.passwordFile ?? '',
      };
    case 'cert':
      return {
        'cert-mount': auth.mount,
        'cert-role': auth.role,
        'cert-pem': auth.files.kind === 'combined' ? auth.files.pemFile : '',
        'cert-file': auth.files.kind === 'pair' ? auth.files.certFile : '',
        'cert-key': auth.files.kind === 'pair' ? auth.files.keyFile : '',
      };
    case 'jwt':
      return {
        'jwt-mount': auth.mount,
        'jwt-role': auth.role,
        'jwt-token-source': auth.source.kind,
        ...(auth.source.kind === 'file'
          ? { 'jwt-token-path': auth.source.path }
          : { 'jwt-spiffe-endpoint': auth.source.endpoint, 'jwt-spiffe-audience': auth.source.audience, 'jwt-spiffe-id': auth.source.spiffeId ?? '' }),
      };
    default:
      return {};
  }
}

/** true (given as a flag or env var), "from <file flag>" (read from the file at every login), or false. */
function whetherSet(value: string | undefined, file: string | undefined, fileFlag: string): boolean | string {
  if (value) return true;
  return file ? `from ${fileFlag}` : false;
}
