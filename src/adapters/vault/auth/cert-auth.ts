import type { CallContext } from '../../../ports/call-context';
import { KmsError } from '../../../ports/errors';
import type { AuthStrategyPort } from '../../../ports/auth.port';
import { authData } from '../schemas';
import type { VaultOperation } from '../vault-errors';
import type { VaultHttpClient } from '../vault-http-client';
import { parseOk } from '../vault-errors';
import { readClientIdentity, type ClientIdentityFiles } from './client-certificate';
import { loginRefusal } from './login-refusal';
import type { SecretSink } from '../../../ports/logger.port';

/** An HTTP client to Vault that presents the given client certificate; closed after one login. */
type LoginClientFactory = (identity: { readonly cert: string; readonly key: string }) => Pick<VaultHttpClient, 'request' | 'close'>;

/**
 * TLS certificate login (POST auth/<mount>/login with {name: role}). The
 * certificate is presented only on the login's own connection: each login
 * reads the files again and opens a new client (so a new TLS handshake) with
 * them, and closes it afterwards. Every other request goes over the shared
 * client, which presents no certificate unless VAULT_CLIENT_CERT is set.
 */
export class CertAuthStrategy implements AuthStrategyPort {
  readonly method = 'cert';
  readonly canObtainNewToken = true;
  private readonly loginOp: VaultOperation;

  constructor(
    private readonly loginClient: LoginClientFactory,
    mount: string,
    private readonly role: string,
    private readonly files: ClientIdentityFiles,
    private readonly onSecret: SecretSink,
  ) {
    this.loginOp = { what: 'certificate login', path: `auth/${mount}/login`, capability: 'update' };
  }

  async login(ctx: CallContext): Promise<string> {
    const identity = await readClientIdentity(this.files, this.onSecret);
    const client = this.loginClient(identity);
    try {
      const res = await client.request('POST', this.loginOp.path, { name: this.role }, ctx, { authenticated: false });
      const refused = loginRefusal(
        res,
        this.loginOp,
        `Vault did not accept the certificate ${identity.subject} for role "${this.role}": check that auth/<cert-mount>/certs/${this.role} ` +
          'trusts the CA that issued it (its "certificate" field) and that its allowed names match',
      );
      if (refused) throw refused;
      const { auth } = parseOk(res, authData, this.loginOp);
      this.onSecret(auth.client_token, 'issued');
      return auth.client_token;
    } catch (e) {
      if (e instanceof KmsError) throw e;
      throw new KmsError('unavailable', 'certificate login failed before Vault answered');
    } finally {
      await client.close().catch(() => undefined);
    }
  }
}
