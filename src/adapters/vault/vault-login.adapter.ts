import type { CallContext } from '../../domain/call-context';
import type { LoginResult, LoginTransportPort } from '../../ports/auth.port';
import { authData } from './schemas';
import type { VaultHttpClient } from './vault-http-client';
import { parseOk } from './vault-transit.adapter';

/** Login requests for the auth strategies: no token sent, the issued token parsed and returned. */
export class VaultLoginAdapter implements LoginTransportPort {
  constructor(private readonly http: VaultHttpClient) {}

  async login(path: string, body: Readonly<Record<string, string>>, ctx: CallContext): Promise<LoginResult> {
    const res = await this.http.request('POST', `auth/${path}`, body, ctx, { authenticated: false });
    const { auth } = parseOk(res, authData, 'login');
    return { token: auth.client_token, leaseDurationSeconds: auth.lease_duration, renewable: auth.renewable };
  }
}
