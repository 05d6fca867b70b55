import type { CallContext } from '../../../domain/model/call-context';
import type { AuthStrategyPort } from '../../../ports/auth.port';
import { authData } from '../schemas';
import type { VaultHttpClient } from '../vault-http-client';
import { parseOk } from '../vault-response';
import { readSecretFile } from './secret-file';

/** AppRole login (POST auth/<mount>/login, no token sent); each login yields a fresh token. */
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

  async login(ctx: CallContext): Promise<string> {
    const secretId = this.secretIdFile ? await readSecretFile(this.secretIdFile, '-approle-secret-id-file') : (this.secretId as string);
    this.onSecret(secretId);
    const body = { role_id: this.roleId, secret_id: secretId };
    const res = await this.http.request('POST', `auth/${this.mount}/login`, body, ctx, { authenticated: false });
    const { auth } = parseOk(res, authData, 'login');
    this.onSecret(auth.client_token);
    return auth.client_token;
  }
}
