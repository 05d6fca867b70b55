import type { CallContext } from '../../../ports/call-context';
import { KmsError } from '../../../ports/errors';
import type { AuthStrategyPort } from '../../../ports/auth.port';
import { readSecretFile } from './secret-file';
import type { SecretSink } from '../../../ports/logger.port';

/** What an HTTP header value may hold (RFC 9110 field-value: visible ASCII, space, tab, obs-text), as undici checks it. */
const HEADER_VALUE = /^[\t\x20-\x7e\x80-\xff]*$/;

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
    private readonly onSecret: SecretSink,
  ) {
    this.canObtainNewToken = tokenFile !== undefined;
  }

  async login(_ctx: CallContext): Promise<string> {
    const token = this.tokenFile ? await readSecretFile(this.tokenFile, '-token-file') : this.token;
    if (!token) throw new KmsError('failed-precondition', 'no Vault token configured');
    this.onSecret(token, 'operator');
    // The token goes into the X-Vault-Token header: say which setting holds what a header cannot carry
    // (a CRLF from a file written on Windows, a stray control character), never the content itself.
    if (!HEADER_VALUE.test(token)) {
      const where = this.tokenFile ? `-token-file (VAULT_KMS_TOKEN_FILE) file ${this.tokenFile}` : '-token (VAULT_KMS_VAULT_TOKEN, VAULT_KMS_TOKEN, VAULT_TOKEN)';
      throw new KmsError(
        'failed-precondition',
        `the Vault token in ${where} holds characters an HTTP header cannot carry (a line break inside it, or another control character); ` +
          'a token is one line of printable characters: write it again without them',
      );
    }
    return token;
  }
}
