import type { AuthSettings, CertFiles, JwtSource } from './config';

/**
 * Settings of the userpass, cert and jwt auth methods (the Go plugin v1.4.0's
 * flags, plus -userpass-password-file). parse.ts hands in how it reads and
 * rejects options, so every error names the flag and its env vars the same way.
 */
export interface OptionReader {
  /** The trimmed value, else the default; undefined when empty. */
  readonly str: (flag: string) => string | undefined;
  readonly fail: (flag: string, why: string) => never;
  /** "-flag" or the env var's name when the operator set it; undefined for a default. */
  readonly source: (flag: string) => string | undefined;
  readonly notices: string[];
  /** One of a credential and its file, or a configuration error when both are set. */
  readonly oneCredential: (value: string | undefined, fileValue: string | undefined, flag: string, fileFlag: string) => string | undefined;
}

const mountPath = (m: string) => m.replace(/^\/+|\/+$/g, '');

export function userpassSettings(r: OptionReader): AuthSettings {
  const username = r.str('userpass-username');
  if (!username) return r.fail('userpass-username', 'is required with -auth-method=userpass');
  const passwordFile = r.str('userpass-password-file');
  const password = r.oneCredential(r.str('userpass-password'), passwordFile, 'userpass-password', 'userpass-password-file');
  if (!password && !passwordFile) return r.fail('userpass-password', 'is required with -auth-method=userpass (or give -userpass-password-file)');
  return { method: 'userpass', mount: mountPath(r.str('userpass-mount') ?? 'userpass'), username, password, passwordFile };
}

export function certSettings(r: OptionReader): AuthSettings {
  const role = r.str('cert-role');
  if (!role) return r.fail('cert-role', 'is required with -auth-method=cert: the role at auth/<cert-mount>/certs/<role>');
  const pemFile = r.str('cert-pem');
  const certFile = r.str('cert-file');
  const keyFile = r.str('cert-key');
  let files: CertFiles;
  if (pemFile) {
    // The Go plugin silently prefers -cert-pem; two sources for one key are a mistake worth naming.
    const other = certFile ? 'cert-file' : keyFile ? 'cert-key' : undefined;
    if (other) return r.fail('cert-pem', `conflicts with -${other} (set by ${r.source(other)}): give -cert-pem, or -cert-file with -cert-key, not both`);
    files = { kind: 'combined', pemFile };
  } else if (certFile && keyFile) {
    files = { kind: 'pair', certFile, keyFile };
  } else if (certFile) {
    return r.fail('cert-key', 'is required with -cert-file (or give both in one file with -cert-pem)');
  } else if (keyFile) {
    return r.fail('cert-file', 'is required with -cert-key (or give both in one file with -cert-pem)');
  } else {
    return r.fail('cert-pem', 'is required with -auth-method=cert (or give -cert-file and -cert-key)');
  }
  // The certificate travels in the TLS handshake: over http:// or a unix socket there is none to carry it.
  if (!(r.str('vault-address') ?? 'https:').split(',').every((a) => /^https:/i.test(a.trim()))) {
    return r.fail('vault-address', 'must be an https:// address with -auth-method=cert: the client certificate is presented in the TLS handshake');
  }
  return { method: 'cert', mount: mountPath(r.str('cert-mount') ?? 'cert'), role, files };
}

const SPIFFE_FLAGS = ['jwt-spiffe-endpoint', 'jwt-spiffe-audience', 'jwt-spiffe-id'];
/** spiffe://trust-domain/path, as the SPIFFE ID specification allows it. */
const SPIFFE_ID = /^spiffe:\/\/[a-z0-9._-]+(\/[A-Za-z0-9._-]+)*$/;

export function jwtSettings(r: OptionReader): AuthSettings {
  const role = r.str('jwt-role');
  if (!role) return r.fail('jwt-role', 'is required with -auth-method=jwt');
  const kind = (r.str('jwt-token-source') ?? 'file').toLowerCase();
  let source: JwtSource;
  if (kind === 'file') {
    const path = r.str('jwt-token-path');
    if (!path) return r.fail('jwt-token-path', 'is required with -jwt-token-source=file');
    for (const flag of SPIFFE_FLAGS) {
      // SPIFFE_ENDPOINT_SOCKET is set for every workload on a SPIRE node: not worth a notice.
      const from = r.source(flag);
      if (from && from !== 'SPIFFE_ENDPOINT_SOCKET') r.notices.push(`${from} is set but -jwt-token-source is file; it is ignored`);
    }
    source = { kind: 'file', path };
  } else if (kind === 'spiffe') {
    const endpoint = r.str('jwt-spiffe-endpoint');
    if (!endpoint) return r.fail('jwt-spiffe-endpoint', 'is required with -jwt-token-source=spiffe: the Workload API socket, e.g. unix:///run/spire/agent.sock');
    if (!/^(unix:|tcp:\/\/)/.test(endpoint)) return r.fail('jwt-spiffe-endpoint', `"${endpoint}" is not a Workload API address such as unix:///run/spire/agent.sock or tcp://127.0.0.1:8081`);
    const audience = r.str('jwt-spiffe-audience');
    if (!audience) return r.fail('jwt-spiffe-audience', 'is required with -jwt-token-source=spiffe: the audience the Vault role binds (bound_audiences)');
    const spiffeId = r.str('jwt-spiffe-id');
    if (spiffeId !== undefined && !SPIFFE_ID.test(spiffeId)) return r.fail('jwt-spiffe-id', `"${spiffeId}" is not a SPIFFE ID such as spiffe://example.org/kms`);
    const pathFrom = r.source('jwt-token-path');
    if (pathFrom) r.notices.push(`${pathFrom} is set but -jwt-token-source is spiffe; it is ignored`);
    source = { kind: 'spiffe', endpoint, audience, spiffeId };
  } else {
    return r.fail('jwt-token-source', `"${kind}" is not supported: use file or spiffe`);
  }
  return { method: 'jwt', mount: mountPath(r.str('jwt-mount') ?? 'jwt'), role, source };
}
