import type { CallContext } from '../../../ports/call-context';
import { KmsError } from '../../../ports/errors';
import type { AuthStrategyPort } from '../../../ports/auth.port';
import { readSecretFile } from './secret-file';

/**
 * Token auth: the credential is the token. With -token-file the file is read
 * again at every login, so an operator (or an agent) can replace an expired
 * token without restarting the plugin.
 */
export class TokenAuthStrategy implements AuthStrategyPort {
  readonly method = 'token';
  readonly canObtainNewToken: boolean;

  constructor(
    private readonly token: string | undefined,
    private readonly tokenFile: string | undefined,
    private readonly onSecret: (s: string) => void,
  ) {
    this.canObtainNewToken = tokenFile !== undefined;
  }

  async login(_ctx: CallContext): Promise<string> {
    const token = this.tokenFile ? await readSecretFile(this.tokenFile, '-token-file') : this.token;
    if (!token) throw new KmsError('failed-precondition', 'no Vault token configured');
    this.onSecret(token);
    return token;
  }
}
