import { onAbort, type CallContext } from '../../ports/call-context';
import { KmsError } from '../../ports/errors';
import { exchange, type VaultEndpoint, type VaultEndpoints } from './vault-http-client';
import { proxyRefusal } from './proxy';
import type { VaultAddressCheck, VaultAddressesPort } from '../../ports/vault-addresses.port';
import { describeNetworkCode, isTlsCode } from './vault-errors';

/**
 * Asks every configured address for sys/health, unauthenticated, all at once.
 * `standbyok` and `perfstandbyok` make a standby answer 200 (without them it
 * answers 429/473, which a load balancer would read as down): a standby serves
 * Transit reads itself or forwards to the active node. A passing check makes
 * the address a failover candidate again; a failing one removes it.
 */
export class VaultAddressChecker implements VaultAddressesPort {
  constructor(private readonly endpoints: VaultEndpoints) {}

  addresses(): readonly string[] {
    return this.endpoints.all.map((e) => e.address);
  }

  async checkAll(ctx: CallContext): Promise<readonly VaultAddressCheck[]> {
    return Promise.all(this.endpoints.all.map((e) => this.checkOne(e, ctx)));
  }

  private async checkOne(endpoint: VaultEndpoint, ctx: CallContext): Promise<VaultAddressCheck> {
    // The exchange settles on the signal's abort by itself, whatever undici does with the
    // connection (on Node 20, undici's request() can stay pending after an abort when the
    // server closes the connection at once).
    const controller = new AbortController();
    const scope: CallContext = { deadline: ctx.deadline, signal: controller.signal };
    const timedOut = new KmsError('unavailable', 'no answer to sys/health in time');
    const stop = onAbort(ctx, () => controller.abort(timedOut));
    const timer = setTimeout(() => controller.abort(timedOut), Math.max(0, ctx.deadline - Date.now()));
    try {
      const res = await exchange(
        endpoint.dispatcher,
        {
          origin: endpoint.origin,
          path: `${endpoint.basePath}/v1/sys/health?standbyok=true&perfstandbyok=true`,
          method: 'GET',
          headers: ['x-vault-request', 'true', 'accept', 'application/json'],
          body: undefined,
          maxBodyBytes: MAX_HEALTH_BODY_BYTES,
        },
        scope,
      );
      const detail = roleOf(res.statusCode, res.text);
      const ok = isUsable(res.statusCode);
      if (ok) this.endpoints.succeeded(endpoint);
      else this.endpoints.failed(endpoint, detail);
      return { address: endpoint.address, ok, detail };
    } catch (e) {
      const refused = proxyRefusal(e, new URL(endpoint.origin), endpoint.proxy);
      const detail = controller.signal.aborted ? timedOut.message : refused ? `unreachable: ${refused.message}` : detailOf(e);
      this.endpoints.failed(endpoint, detail);
      return { address: endpoint.address, ok: false, detail };
    } finally {
      clearTimeout(timer);
      stop();
    }
  }
}

/** sys/health answers with a few hundred bytes; a hostile or broken server's huge answer is cut off here. */
const MAX_HEALTH_BODY_BYTES = 64 * 1024;

/**
 * Down: sealed or failing (5xx), not initialised (501), a DR secondary (472).
 * Anything else answered as a node that can take requests; a server or proxy
 * without sys/health (404) is left to the round trip check to judge.
 */
function isUsable(status: number): boolean {
  return status < 500 && status !== 472;
}

/** The node's role from sys/health's status code and flags. */
function roleOf(status: number, text: string): string {
  let body: { standby?: boolean; performance_standby?: boolean; sealed?: boolean } = {};
  try {
    body = JSON.parse(text) as typeof body;
  } catch {
    // An answer that is no JSON is reported by its status alone.
  }
  if (status === 200) return body.performance_standby ? 'performance standby' : body.standby ? 'standby' : 'active';
  if (status === 503 || body.sealed) return 'sealed';
  if (status === 501) return 'not initialized';
  if (status === 472) return 'disaster recovery secondary';
  if (status === 429) return 'standby';
  if (status === 473) return 'performance standby';
  return `answers (sys/health: HTTP ${status})`;
}

/** A TLS problem is said as such (with the option that fixes it); anything else is "unreachable (CODE)". */
function detailOf(e: unknown): string {
  const err = e as { code?: string; cause?: { code?: string }; message?: string };
  const code = err.code ?? err.cause?.code ?? (err.message ?? 'connection error').slice(0, 120);
  return isTlsCode(code) ? describeNetworkCode(code) : `unreachable (${code})`;
}
