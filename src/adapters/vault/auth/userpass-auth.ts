import type { CallContext } from '../../../ports/call-context';
import { KmsError } from '../../../ports/errors';
import type { AuthStrategyPort } from '../../../ports/auth.port';
import { authData } from '../schemas';
import type { VaultOperation } from '../vault-errors';
import type { VaultHttpClient } from '../vault-http-client';
import { parseOk } from '../vault-errors';
import { loginRefusal } from './login-refusal';
import { REFUSED_CREDENTIAL_RETRY_MS, RefusedCredential } from './refused-credential';
import { readSecretFile } from './secret-file';
import type { SecretSink } from '../../../ports/logger.port';

/**
 * userpass login (POST auth/<mount>/login/<username>, no token sent). Like
 * AppRole, userpass is subject to Vault's user lockout, so a password Vault
 * refused is not sent again until it changes or REFUSED_CREDENTIAL_RETRY_MS pass.
 */
export class UserpassAuthStrategy implements AuthStrategyPort {
  readonly method = 'userpass';
  readonly canObtainNewToken = true;
  private readonly loginOp: VaultOperation;
  private readonly refused: RefusedCredential;

  constructor(
    private readonly http: VaultHttpClient,
    mount: string,
    private readonly username: string,
    private readonly password: string | undefined,
    private readonly passwordFile: string | undefined,
    private readonly onSecret: SecretSink,
    now: () => number = Date.now,
  ) {
    this.refused = new RefusedCredential(now);
    this.loginOp = { what: 'userpass login', path: `auth/${mount}/login/${encodeURIComponent(username)}`, capability: 'update' };
  }

  async login(ctx: CallContext): Promise<string> {
    const password = this.passwordFile ? await readSecretFile(this.passwordFile, '-userpass-password-file') : (this.password as string);
    this.onSecret(password, 'operator');
    if (this.refused.heldBack(password)) {
      throw new KmsError(
        'permission-denied',
        `Vault refused this password for user "${this.username}" at ${this.loginOp.path}; not sending it again until it changes ` +
          `or ${REFUSED_CREDENTIAL_RETRY_MS / 60_000} minutes pass, to stay clear of Vault's user lockout: put the right password into -userpass-password-file`,
      );
    }
    const res = await this.http.request('POST', this.loginOp.path, { password }, ctx, { authenticated: false });
    const refused = loginRefusal(
      res,
      this.loginOp,
      res.status === 400
        ? 'wrong -userpass-username or -userpass-password (or the user does not exist on -userpass-mount)'
        : 'the user is probably locked by user lockout after repeated failed logins (see `vault read sys/locked-users`), or the address is outside its token_bound_cidrs',
    );
    if (refused) {
      if (res.status === 400) this.refused.refuse(password);
      throw refused;
    }
    const { auth } = parseOk(res, authData, this.loginOp);
    this.refused.accepted();
    this.onSecret(auth.client_token, 'issued');
    return auth.client_token;
  }
}
