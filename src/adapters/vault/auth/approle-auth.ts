import type { CallContext } from '../../../ports/call-context';
import { KmsError } from '../../../ports/errors';
import type { AuthStrategyPort } from '../../../ports/auth.port';
import { authData } from '../schemas';
import { vaultErrorText, type VaultOperation } from '../vault-errors';
import type { VaultHttpClient } from '../vault-http-client';
import { errorsOf, parseOk } from '../vault-errors';
import { REFUSED_CREDENTIAL_RETRY_MS, RefusedCredential } from './refused-credential';
import { readSecretFile } from './secret-file';
import type { SecretSink } from '../../../ports/logger.port';

/** AppRole login (POST auth/<mount>/login, no token sent); each login yields a fresh token. */
export class AppRoleAuthStrategy implements AuthStrategyPort {
  readonly method = 'approle';
  readonly canObtainNewToken = true;
  private readonly loginOp: VaultOperation;
  private readonly refused: RefusedCredential;

  constructor(
    private readonly http: VaultHttpClient,
    private readonly mount: string,
    private readonly roleId: string,
    private readonly secretId: string | undefined,
    private readonly secretIdFile: string | undefined,
    private readonly onSecret: SecretSink,
    now: () => number = Date.now,
  ) {
    this.refused = new RefusedCredential(now);
    this.loginOp = { what: 'AppRole login', path: `auth/${mount}/login`, capability: 'update' };
  }

  async login(ctx: CallContext): Promise<string> {
    const secretId = this.secretIdFile ? await readSecretFile(this.secretIdFile, '-approle-secret-id-file') : (this.secretId as string);
    this.onSecret(secretId, 'operator');
    if (this.refused.heldBack(secretId)) {
      throw new KmsError(
        'permission-denied',
        `Vault rejected this secret ID at ${this.loginOp.path} (invalid role or secret ID); not sending it again until it changes ` +
          `or ${REFUSED_CREDENTIAL_RETRY_MS / 60_000} minutes pass, to stay clear of Vault's user lockout: put a new secret ID into -approle-secret-id-file`,
      );
    }
    const body = { role_id: this.roleId, secret_id: secretId };
    const res = await this.http.request('POST', this.loginOp.path, body, ctx, { authenticated: false });
    if (res.status === 400 && /invalid role or secret id|invalid credentials/i.test(vaultErrorText(errorsOf(res)))) {
      this.refused.refuse(secretId);
      throw new KmsError('permission-denied', `Vault rejected the AppRole login at ${this.loginOp.path}: invalid role or secret ID (the secret ID is wrong, expired or used up, or the role ID is wrong)`);
    }
    if (res.status === 403) {
      throw new KmsError(
        'permission-denied',
        `Vault refused the AppRole login at ${this.loginOp.path} with "permission denied": the role ID is probably locked by user lockout after repeated failed logins ` +
          '(lockout_duration, 15 minutes by default, on every node); unlock it with `vault write -f sys/locked-users/<mount_accessor>/unlock/<role_id>` (see `vault read sys/locked-users`), ' +
          'or the node address is outside the secret ID\'s bound CIDRs',
      );
    }
    const { auth } = parseOk(res, authData, this.loginOp);
    this.refused.accepted();
    this.onSecret(auth.client_token, 'issued');
    return auth.client_token;
  }
}
