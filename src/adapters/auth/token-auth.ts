import { readFile } from 'node:fs/promises';
import type { CallContext } from '../../domain/call-context';
import { KmsError } from '../../domain/errors';
import type { AuthStrategyPort, LoginResult } from '../../ports/auth.port';

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

  async login(_ctx: CallContext): Promise<LoginResult> {
    const token = this.tokenFile ? await readSecretFile(this.tokenFile, '-token-file') : this.token;
    if (!token) throw new KmsError('failed-precondition', 'no Vault token configured');
    this.onSecret(token);
    return { token, leaseDurationSeconds: 0, renewable: false };
  }
}

export async function readSecretFile(path: string, flag: string): Promise<string> {
  try {
    const text = (await readFile(path, 'utf8')).trim();
    if (text === '') throw new KmsError('failed-precondition', `${flag} file ${path} is empty`);
    return text;
  } catch (e) {
    if (e instanceof KmsError) throw e;
    throw new KmsError('failed-precondition', `cannot read ${flag} file ${path}: ${(e as NodeJS.ErrnoException).code ?? 'error'}`);
  }
}
