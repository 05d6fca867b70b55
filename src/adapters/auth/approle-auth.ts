import type { CallContext } from '../../domain/call-context';
import type { AuthStrategyPort, LoginResult, LoginTransportPort } from '../../ports/auth.port';
import { readSecretFile } from './token-auth';

/** AppRole login (POST auth/<mount>/login); each login yields a fresh token. */
export class AppRoleAuthStrategy implements AuthStrategyPort {
  readonly method = 'approle';
  readonly canObtainNewToken = true;

  constructor(
    private readonly transport: LoginTransportPort,
    private readonly mount: string,
    private readonly roleId: string,
    private readonly secretId: string | undefined,
    private readonly secretIdFile: string | undefined,
    private readonly onSecret: (s: string) => void,
  ) {}

  async login(ctx: CallContext): Promise<LoginResult> {
    const secretId = this.secretIdFile ? await readSecretFile(this.secretIdFile, '-approle-secret-id-file') : (this.secretId as string);
    this.onSecret(secretId);
    const result = await this.transport.login(`${this.mount}/login`, { role_id: this.roleId, secret_id: secretId }, ctx);
    this.onSecret(result.token);
    return result;
  }
}
