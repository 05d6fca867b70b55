import type { AuthSettings } from '../config/config';
import { AppRoleAuthStrategy } from '../adapters/vault/auth/approle-auth';
import { CertAuthStrategy } from '../adapters/vault/auth/cert-auth';
import { FileJwtSource, JwtAuthStrategy } from '../adapters/vault/auth/jwt-auth';
import { TokenAuthStrategy } from '../adapters/vault/auth/token-auth';
import { UserpassAuthStrategy } from '../adapters/vault/auth/userpass-auth';
import { SpiffeJwtSource } from '../adapters/spiffe/spiffe-jwt-source';
import { SYSTEM_CLOCK } from '../adapters/runtime/system';
import { VaultHttpClient, type VaultRequestObserver } from '../adapters/vault/vault-http-client';
import type { VaultClientSettings } from '../adapters/vault/vault-settings';
import type { AuthStrategyPort } from '../ports/auth.port';
import type { SecretSink } from '../ports/logger.port';

/**
 * The login for the configured -auth-method, as the plugin and `check` both
 * use it: over the shared Vault client, except cert auth, whose certificate
 * goes on the login's own connection only.
 */
export function authStrategy(
  auth: Exclude<AuthSettings, { method: 'dev' }>,
  http: VaultHttpClient,
  vault: VaultClientSettings,
  registerSecret: SecretSink,
  observeLogin: VaultRequestObserver,
): AuthStrategyPort {
  switch (auth.method) {
    case 'token':
      return new TokenAuthStrategy(auth.token, auth.tokenFile, registerSecret);
    case 'approle':
      return new AppRoleAuthStrategy(http, auth.mount, auth.roleId, auth.secretId, auth.secretIdFile, registerSecret);
    case 'userpass':
      return new UserpassAuthStrategy(http, auth.mount, auth.username, auth.password, auth.passwordFile, registerSecret);
    case 'cert':
      return new CertAuthStrategy(
        (identity) => new VaultHttpClient({ ...vault, clientIdentity: identity }, SYSTEM_CLOCK, registerSecret, observeLogin),
        auth.mount,
        auth.role,
        auth.files,
        registerSecret,
      );
    case 'jwt':
      return new JwtAuthStrategy(
        http,
        auth.mount,
        auth.role,
        auth.source.kind === 'file'
          ? new FileJwtSource(auth.source.path)
          : new SpiffeJwtSource({ endpoint: auth.source.endpoint, audience: auth.source.audience, spiffeId: auth.source.spiffeId }),
        registerSecret,
      );
  }
}
