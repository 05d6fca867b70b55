import { z, type ZodTypeAny } from 'zod';
import { outsideText } from '../../domain/model/outside-text';
import { KmsError, type NetworkReason } from '../../ports/errors';

/**
 * The one place Vault's answers become domain error kinds. Vault error texts
 * are matched by substring (they are often multierror-formatted) and passed
 * on as one line of at most 200 visible characters (outside-text.ts): a hostile
 * node can neither forge a line of `check`'s output or /health nor flood them.
 */
const DECRYPT_REJECTIONS = [
  'invalid ciphertext',
  'message authentication failed',
  'disallowed by policy',
  'could not decode',
  'version is too new',
  'illegal base64',
  'missing ciphertext',
];

const MAX_VAULT_ERROR_CHARS = 200;

export function vaultErrorText(errors: readonly string[]): string {
  const joined = errors
    .map((e) => e.replace(/\d+ errors? occurred:/g, '').replace(/[\t\n\r*]+/g, ' ').trim())
    .filter((e) => e !== '')
    .join('; ');
  return joined === '' ? 'no error text' : outsideText(joined, MAX_VAULT_ERROR_CHARS);
}

/** What a request was for, named in its errors so an operator can fix the policy or the setup. */
export interface VaultOperation {
  readonly what: string;
  readonly path: string;
  readonly capability: 'read' | 'update';
}

/**
 * Vault and OpenBao answer 403 `permission denied` both to a bad token and to a
 * valid token lacking a capability, but in two forms: the ACL check's denial
 * goes through core's multierror ("1 error occurred: * permission denied"), a
 * bad, expired or revoked token gets the bare text (Vault >= 1.17 adds
 * "invalid token"). Checked against OpenBao 2.7.2 (test/e2e/openbao-real).
 */
function classifyDenial(errors: readonly string[], text: string, op: VaultOperation): KmsError {
  const lower = text.toLowerCase();
  const viaMultiError = errors.some((e) => /\d+ errors? occurred/.test(e));
  if (viaMultiError && lower.includes('permission denied') && !lower.includes('invalid token')) {
    return new KmsError('permission-denied', `Vault denied ${op.what}: the token's policy lacks "${op.capability}" on "${op.path}" (permission denied)`, {
      missingCapability: true,
    });
  }
  return new KmsError('permission-denied', `Vault rejected the token on ${op.what} (${op.path}): it is invalid, expired or revoked (${text})`, {
    tokenInvalid: true,
  });
}

export function classifyVaultError(status: number, errors: readonly string[], op: VaultOperation): KmsError {
  const what = op.what;
  const text = vaultErrorText(errors);
  const lower = text.toLowerCase();
  if (status === 401 || status === 403) return classifyDenial(errors, text, op);
  if (status === 400) {
    if (DECRYPT_REJECTIONS.some((m) => lower.includes(m))) return new KmsError('invalid-ciphertext', `Vault cannot decrypt this ciphertext: ${text}`);
    if (lower.includes('invalid role or secret id') || lower.includes('invalid credentials')) {
      return new KmsError('permission-denied', `Vault rejected the login: ${text}`);
    }
    return new KmsError('failed-precondition', `Vault rejected ${what}: ${text}`);
  }
  if (status === 404 || status === 405) {
    return new KmsError('failed-precondition', `Vault has no ${what} (HTTP ${status}: ${text}); check the transit mount, key name and auth mount`);
  }
  if (status === 503 && lower.includes('sealed')) return new KmsError('unavailable', 'Vault is sealed');
  if (status === 429) return new KmsError('unavailable', `Vault is rate limiting ${what}: ${text}`);
  if (status === 412 || status >= 500) return new KmsError('unavailable', `Vault failed ${what} (HTTP ${status}: ${text})`);
  return new KmsError('internal', `unexpected HTTP ${status} from Vault for ${what}: ${text}`);
}

/**
 * A request refused for its size by the server's JSON limits, which a smaller
 * batch passes: OpenBao answers 400 "refused JSON input due to high complexity"
 * (max_request_json_strings and friends); Vault answers 500 "JSON array exceeds
 * allowed element count" (listener max_json_array_element_count, 10,000 by
 * default) or "JSON payload exceeds allowed token count". Vault's 500 is no
 * node failure: the same request fails on every node and at every retry.
 */
export function isRequestSizeRefusal(status: number, errors: readonly string[]): boolean {
  if (status === 400) return errors.some((e) => /high complexity|too large|exceeded maximum/i.test(e));
  if (status === 500) return errors.some((e) => /exceeds allowed (element|token) count/i.test(e));
  return false;
}

/** Statuses Vault's own client retries: 412, 429 and every 5xx but 501. */
export function isRetryableStatus(status: number): boolean {
  return status === 412 || status === 429 || (status >= 500 && status !== 501);
}

/** A Vault answer as the HTTP client returns it (vault-http-client.ts's VaultResponse). */
interface VaultAnswer {
  readonly status: number;
  readonly body: unknown;
}

const errorBody = z.object({ errors: z.array(z.string()).optional() }).passthrough();

/** The `errors` array of a Vault error body, or none. */
export function errorsOf(res: VaultAnswer): string[] {
  const parsed = errorBody.safeParse(res.body);
  return parsed.success ? (parsed.data.errors ?? []) : [];
}

/** A 2xx body of the expected shape, or the classified error. */
export function parseOk<S extends ZodTypeAny>(res: VaultAnswer, schema: S, op: VaultOperation): z.output<S> {
  if (res.status < 200 || res.status >= 300) throw classifyVaultError(res.status, errorsOf(res), op);
  const parsed = schema.safeParse(res.body);
  if (!parsed.success) throw new KmsError('internal', `Vault sent an unexpected response to ${op.what}`);
  return parsed.data;
}

/**
 * One wording of a failed connection to Vault for every place that reports it
 * (request errors, the addresses' check behind /health and Status, the log),
 * so that a TLS trust problem reads as such, with the option that fixes it,
 * as `check` says it.
 */
export function describeNetworkError(e: unknown): string {
  const err = e as { message?: string };
  return describeNetworkCode(codeOf(e) ?? (err.message ? err.message.slice(0, 120) : 'connection error'));
}

/** Why the connection failed, from the error's code (Node's or undici's), for `check` to name a fix. */
export function networkReasonOf(e: unknown): NetworkReason {
  const code = codeOf(e) ?? '';
  if (/^(ENOTFOUND|EAI_AGAIN|EAI_NONAME|EAI_FAIL)$/.test(code)) return 'dns';
  if (/^(ECONNREFUSED|ENOENT|EHOSTUNREACH|ENETUNREACH)$/.test(code)) return 'refused';
  if (/^(UND_ERR_SOCKET|ECONNRESET|EPIPE)$/.test(code)) return 'closed';
  if (code === 'ERR_TLS_CERT_ALTNAME_INVALID') return 'tls-name';
  if (/CERT|SIGNATURE|SELF_SIGNED/.test(code)) return 'tls-untrusted';
  if (/^(EPROTO|ERR_SSL_|ERR_TLS_)/.test(code)) return 'tls-protocol';
  if (/TIMEOUT|ETIMEDOUT/.test(code)) return 'timeout';
  return 'other';
}

function codeOf(e: unknown): string | undefined {
  const err = e as { code?: string; cause?: { code?: string } } | undefined;
  return err?.code ?? err?.cause?.code;
}

/** True when the code names a TLS problem, not an unreachable host. */
export function isTlsCode(code: string): boolean {
  return /CERT|SIGNATURE|SELF_SIGNED|ERR_TLS|ERR_SSL|EPROTO/.test(code);
}

export function describeNetworkCode(code: string): string {
  if (code === 'ERR_TLS_CERT_ALTNAME_INVALID') {
    return `Vault's certificate does not name this host (${code}): use an address it names, or set VAULT_TLS_SERVER_NAME`;
  }
  if (/CERT|SIGNATURE|SELF_SIGNED/.test(code)) {
    return `Vault's certificate is not trusted (${code}): give -vault-ca-cert (VAULT_KMS_VAULT_CACERT, VAULT_CACERT) with the CA that issued it`;
  }
  if (/ERR_TLS|ERR_SSL|EPROTO/.test(code)) return `the TLS handshake with Vault failed (${code})`;
  return code;
}
