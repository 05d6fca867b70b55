import type { CallContext } from '../../domain/call-context';
import type { AuthStrategyPort, LoginResult } from '../../ports/auth.port';
import { authData } from '../vault/schemas';
import type { VaultHttpClient } from '../vault/vault-http-client';
import { parseOk } from '../vault/vault-transit.adapter';
import { readSecretFile } from './token-auth';

/** AppRole login (POST auth/<mount>/login); each login yields a fresh token. */
export class AppRoleAuthStrategy implements AuthStrategyPort {
  readonly method = 'approle';
  readonly canObtainNewToken = true;

  constructor(
    private readonly http: VaultHttpClient,
    private readonly mount: string,
    private readonly roleId: string,
    private readonly secretId: string | undefined,
    private readonly secretIdFile: string | undefined,
    private readonly onSecret: (s: string) => void,
  ) {}

  async login(ctx: CallContext): Promise<LoginResult> {
    const secretId = this.secretIdFile ? await readSecretFile(this.secretIdFile, '-approle-secret-id-file') : (this.secretId as string);
    this.onSecret(secretId);
    const res = await this.http.request('POST', `auth/${this.mount}/login`, { role_id: this.roleId, secret_id: secretId }, ctx, { authenticated: false });
    const { auth } = parseOk(res, authData, 'AppRole login');
    this.onSecret(auth.client_token);
    return { token: auth.client_token, leaseDurationSeconds: auth.lease_duration, renewable: auth.renewable };
  }
}
