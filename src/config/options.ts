/**
 * The one table of command-line options. yargs, env-var lookup, validation
 * messages, --help and docs/configuration.md are all generated from it, so a
 * flag cannot exist in one place and be missing in another.
 *
 * Env names: the first is the one the seed documentation gives; the rest are
 * the names the Go plugin actually reads and Vault's own client variables,
 * which are read last, as fallbacks.
 */
export type OptionType = 'string' | 'boolean' | 'duration' | 'integer';

export interface OptionSpec {
  readonly flag: string;
  readonly envs: readonly string[];
  readonly type: OptionType;
  readonly default?: string;
  readonly secret?: boolean;
  readonly group: 'Vault server' | 'Transit' | 'Authentication' | 'Token renewal' | 'Socket' | 'General';
  readonly description: string;
}

export const OPTIONS: readonly OptionSpec[] = [
  { flag: 'vault-address', envs: ['VAULT_KMS_VAULT_ADDR', 'VAULT_ADDR'], type: 'string', group: 'Vault server', description: 'Vault/OpenBao API address, e.g. https://vault.example.com:8200, or a comma-separated list of the nodes of one cluster (see docs/ha.md) (required unless -dev)' },
  { flag: 'vault-namespace', envs: ['VAULT_KMS_VAULT_NAMESPACE', 'VAULT_NAMESPACE'], type: 'string', group: 'Vault server', description: 'Vault Enterprise / OpenBao namespace, sent as X-Vault-Namespace' },
  { flag: 'vault-redirect-origins', envs: ['VAULT_KMS_VAULT_REDIRECT_ORIGINS'], type: 'string', group: 'Vault server', description: 'comma-separated origins (https://vault-1:8200) a Vault redirect may lead to, e.g. the active node from a standby; redirects to any other origin are refused' },
  { flag: 'vault-ca-cert', envs: ['VAULT_KMS_VAULT_CACERT', 'VAULT_CACERT'], type: 'string', group: 'Vault server', description: 'PEM file with the CA that issued the Vault server certificate' },
  { flag: 'transit-mount', envs: ['VAULT_KMS_TRANSIT_MOUNT'], type: 'string', default: 'transit', group: 'Transit', description: 'mount path of the Transit secrets engine' },
  { flag: 'transit-key', envs: ['VAULT_KMS_TRANSIT_KEY'], type: 'string', default: 'kms', group: 'Transit', description: 'name of the Transit key that wraps the data keys' },
  { flag: 'auth-method', envs: ['VAULT_KMS_AUTH_METHOD'], type: 'string', group: 'Authentication', description: 'token, approle, userpass, cert or jwt (required unless -dev)' },
  { flag: 'token', envs: ['VAULT_KMS_VAULT_TOKEN', 'VAULT_KMS_TOKEN', 'VAULT_TOKEN'], type: 'string', secret: true, group: 'Authentication', description: 'Vault token for -auth-method=token (prefer the env var or -token-file: flags show in the process list)' },
  { flag: 'token-file', envs: ['VAULT_KMS_TOKEN_FILE'], type: 'string', group: 'Authentication', description: 'file holding the Vault token for -auth-method=token, re-read on every login' },
  { flag: 'approle-role-id', envs: ['VAULT_KMS_APPROLE_ROLE_ID'], type: 'string', group: 'Authentication', description: 'AppRole role ID for -auth-method=approle' },
  { flag: 'approle-secret-id', envs: ['VAULT_KMS_APPROLE_SECRET_ID'], type: 'string', secret: true, group: 'Authentication', description: 'AppRole secret ID for -auth-method=approle' },
  { flag: 'approle-secret-id-file', envs: ['VAULT_KMS_APPROLE_SECRET_ID_FILE'], type: 'string', group: 'Authentication', description: 'file holding the AppRole secret ID, re-read on every login' },
  { flag: 'approle-mount', envs: ['VAULT_KMS_APPROLE_MOUNT'], type: 'string', default: 'approle', group: 'Authentication', description: 'mount path of the AppRole auth method' },
  { flag: 'userpass-username', envs: ['VAULT_KMS_USERPASS_USERNAME'], type: 'string', group: 'Authentication', description: 'user name for -auth-method=userpass' },
  { flag: 'userpass-password', envs: ['VAULT_KMS_USERPASS_PASSWORD'], type: 'string', secret: true, group: 'Authentication', description: 'password for -auth-method=userpass (prefer -userpass-password-file: flags show in the process list)' },
  { flag: 'userpass-password-file', envs: ['VAULT_KMS_USERPASS_PASSWORD_FILE'], type: 'string', group: 'Authentication', description: 'file holding the userpass password, re-read on every login' },
  { flag: 'userpass-mount', envs: ['VAULT_KMS_USERPASS_MOUNT'], type: 'string', default: 'userpass', group: 'Authentication', description: 'mount path of the userpass auth method' },
  { flag: 'cert-mount', envs: ['VAULT_KMS_CERT_MOUNT'], type: 'string', default: 'cert', group: 'Authentication', description: 'mount path of the TLS certificate auth method' },
  { flag: 'cert-role', envs: ['VAULT_KMS_CERT_ROLE'], type: 'string', group: 'Authentication', description: 'certificate role (auth/<mount>/certs/<role>) for -auth-method=cert' },
  { flag: 'cert-file', envs: ['VAULT_KMS_CERT_FILE'], type: 'string', group: 'Authentication', description: 'PEM file with the client certificate for -auth-method=cert (with -cert-key), re-read on every login' },
  { flag: 'cert-key', envs: ['VAULT_KMS_CERT_KEY'], type: 'string', group: 'Authentication', description: 'PEM file with the private key of -cert-file, re-read on every login' },
  { flag: 'cert-pem', envs: ['VAULT_KMS_CERT_PEM'], type: 'string', group: 'Authentication', description: 'one PEM file with certificate and key instead of -cert-file and -cert-key, e.g. /var/lib/kubelet/pki/kubelet-client-current.pem; re-read on every login, so a rotated file is used without a restart' },
  { flag: 'jwt-mount', envs: ['VAULT_KMS_JWT_MOUNT'], type: 'string', default: 'jwt', group: 'Authentication', description: 'mount path of the JWT auth method' },
  { flag: 'jwt-role', envs: ['VAULT_KMS_JWT_ROLE'], type: 'string', group: 'Authentication', description: 'JWT role for -auth-method=jwt' },
  { flag: 'jwt-token-source', envs: ['VAULT_KMS_JWT_TOKEN_SOURCE'], type: 'string', default: 'file', group: 'Authentication', description: 'where the JWT comes from: file (-jwt-token-path) or spiffe (a JWT-SVID from the SPIFFE Workload API)' },
  { flag: 'jwt-token-path', envs: ['VAULT_KMS_JWT_TOKEN_PATH'], type: 'string', default: '/var/run/secrets/kubernetes.io/serviceaccount/token', group: 'Authentication', description: 'file holding the JWT for -jwt-token-source=file, re-read on every login (projected tokens rotate)' },
  { flag: 'jwt-spiffe-endpoint', envs: ['VAULT_KMS_JWT_SPIFFE_ENDPOINT', 'SPIFFE_ENDPOINT_SOCKET'], type: 'string', group: 'Authentication', description: 'SPIFFE Workload API address, e.g. unix:///run/spire/agent.sock, for -jwt-token-source=spiffe' },
  { flag: 'jwt-spiffe-audience', envs: ['VAULT_KMS_JWT_SPIFFE_AUDIENCE'], type: 'string', group: 'Authentication', description: 'audience of the JWT-SVID (a bound_audiences entry of the Vault role), for -jwt-token-source=spiffe' },
  { flag: 'jwt-spiffe-id', envs: ['VAULT_KMS_JWT_SPIFFE_ID'], type: 'string', group: 'Authentication', description: 'SPIFFE ID of the JWT-SVID to request, e.g. spiffe://example.org/kms; optional: without it the Workload API picks the workload\'s first identity' },
  { flag: 'token-refresh-interval', envs: ['VAULT_KMS_TOKEN_REFRESH_INTERVAL'], type: 'duration', default: '60s', group: 'Token renewal', description: 'how often the token TTL is checked (Go duration, e.g. 60s, 5m)' },
  { flag: 'token-renewal', envs: ['VAULT_KMS_TOKEN_RENEWAL', 'VAULT_KMS_TOKEN_RENEWAL_SECONDS'], type: 'integer', default: '3600', group: 'Token renewal', description: 'increment in seconds requested when renewing the token' },
  { flag: 'socket', envs: ['VAULT_KMS_SOCKET'], type: 'string', default: 'unix:///opt/kms/vaultkms.socket', group: 'Socket', description: 'unix:// URL of the socket kube-apiserver connects to' },
  { flag: 'force-socket-overwrite', envs: ['FORCE_SOCKET_OVERWRITE', 'VAULT_KMS_FORCE_SOCKET_OVERWRITE'], type: 'boolean', default: 'false', group: 'Socket', description: 'replace a regular file or symlink found at the socket path (a stale socket is always replaced; directories, FIFOs and devices never are)' },
  { flag: 'socket-mode', envs: ['VAULT_KMS_SOCKET_MODE'], type: 'string', default: '0600', group: 'Socket', description: 'octal permissions of the socket file; 0660 grants the group access' },
  { flag: 'debug', envs: ['VAULT_KMS_DEBUG'], type: 'boolean', default: 'false', group: 'General', description: 'log every request at debug level' },
  { flag: 'health-port', envs: ['VAULT_KMS_HEALTH_PORT'], type: 'string', default: ':8080', group: 'General', description: 'address of the /live, /health and /metrics endpoints: :8080, 8080 or 127.0.0.1:8080' },
  { flag: 'health-check-interval', envs: ['VAULT_KMS_HEALTH_CHECK_INTERVAL'], type: 'duration', default: '15s', group: 'General', description: 'how often the background Vault check behind /health and Status runs' },
  { flag: 'disable-v1', envs: ['VAULT_KMS_DISABLE_V1'], type: 'boolean', default: 'true', group: 'General', description: 'disable the deprecated KMS v1beta1 API (set -disable-v1=false to serve it)' },
  { flag: 'disable-v2', envs: ['VAULT_KMS_DISABLE_V2'], type: 'boolean', default: 'false', group: 'General', description: 'disable the KMS v2 API' },
  { flag: 'dev', envs: ['VAULT_KMS_DEV'], type: 'boolean', default: 'false', group: 'General', description: 'development mode: in-process transit backend with an ephemeral key; NOT FOR PRODUCTION' },
];

export const OPTION_BY_FLAG: ReadonlyMap<string, OptionSpec> = new Map(OPTIONS.map((o) => [o.flag, o]));

/** "-flag (ENV_A, ENV_B)": how every configuration error names an option. */
export function describeOption(flag: string): string {
  const spec = OPTION_BY_FLAG.get(flag);
  if (!spec || spec.envs.length === 0) return `-${flag}`;
  return `-${flag} (${spec.envs.join(', ')})`;
}
