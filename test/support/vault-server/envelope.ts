/**
 * Builders for the bodies Vault/OpenBao put on the wire (vault-api.md §0).
 * Handlers return a Reply value instead of writing to the socket, so that the
 * fault layer can truncate or reshape a real answer before it is sent.
 */
import { randomUUID } from 'node:crypto';
import { GoMap, applyGoEscapes, encodeGoFragment, goMarshal } from './go-json';

export type Flavor = 'vault' | 'openbao';

export interface Reply {
  readonly status: number;
  /** Empty string means "no body" (204, HEAD, 307). */
  readonly body: string;
  readonly headers?: Readonly<Record<string, string>>;
}

export interface EnvelopeExtras {
  readonly warnings?: readonly string[] | null;
  /** Struct-shaped `auth` block (login, token create, renew). */
  readonly auth?: unknown;
}

/** Where the handler lives; decides `mount_type` in vault flavor. */
export interface ResponseSite {
  readonly flavor: Flavor;
  readonly mountType: string;
}

function dataFragment(data: Readonly<Record<string, unknown>> | null): string {
  if (data === null) return 'null';
  // `data` is a Go map[string]interface{} in Vault: its keys are always sorted.
  return encodeGoFragment(new GoMap(data));
}

function envelopeText(
  site: ResponseSite,
  mountType: string,
  data: Readonly<Record<string, unknown>> | null,
  extras: EnvelopeExtras | undefined,
): string {
  const warnings = extras?.warnings && extras.warnings.length > 0 ? encodeGoFragment(extras.warnings) : 'null';
  const auth = extras?.auth === undefined || extras.auth === null ? 'null' : encodeGoFragment(extras.auth);
  // String concatenation keeps the field order fixed and is the cheapest way
  // to build the envelope on the encrypt/decrypt hot path.
  let text =
    '{"request_id":"' +
    randomUUID() +
    '","lease_id":"","renewable":false,"lease_duration":0,"data":' +
    dataFragment(data) +
    ',"wrap_info":null,"warnings":' +
    warnings +
    ',"auth":' +
    auth;
  if (site.flavor === 'vault') text += ',"mount_type":' + JSON.stringify(mountType);
  return applyGoEscapes(text + '}');
}

/** 200 with the standard envelope, encoded by json.NewEncoder (trailing newline). */
export function okReply(
  site: ResponseSite,
  data: Readonly<Record<string, unknown>> | null,
  extras?: EnvelopeExtras,
): Reply {
  return { status: 200, body: envelopeText(site, site.mountType, data, extras) + '\n' };
}

/**
 * Non-200 batch answer (logical.RespondWithStatusCode): json.Marshal, so no
 * trailing newline, no `errors` key, and mount_type "" in vault flavor because
 * core fills it in only after the plugin has already serialized the body.
 */
export function batchStatusReply(
  site: ResponseSite,
  status: number,
  data: Readonly<Record<string, unknown>>,
  warnings: readonly string[],
): Reply {
  return { status, body: envelopeText(site, '', data, { warnings }) };
}

/** `{"errors":[...]}` + newline (logical.RespondError). */
export function errorReply(status: number, ...messages: string[]): Reply {
  return { status, body: goMarshal({ errors: messages }) + '\n' };
}

/** Any other JSON document encoded by json.NewEncoder (health, seal-status). */
export function jsonReply(status: number, value: unknown): Reply {
  return { status, body: goMarshal(value) + '\n' };
}

export const NO_CONTENT: Reply = { status: 204, body: '' };

/** How a raw Go error looks after travelling through core's multierror. */
export function multiErrorText(...messages: string[]): string {
  const n = messages.length;
  const head = n === 1 ? '1 error occurred:' : `${n} errors occurred:`;
  return head + messages.map((m) => `\n\t* ${m}`).join('') + '\n\n';
}

export const PERMISSION_DENIED = 'permission denied';

/** 403 for a missing token or a locked login: the bare text, never `invalid token`. */
export function permissionDeniedReply(): Reply {
  return errorReply(403, PERMISSION_DENIED);
}

/**
 * 403 for a valid token whose policies lack the capability. Real OpenBao 2.7.2
 * (and Vault) send this through core's multierror, which is how a client tells
 * "missing capability" from "bad token" (a bare `permission denied`).
 */
export function policyDeniedReply(): Reply {
  return errorReply(403, multiErrorText(PERMISSION_DENIED));
}

/**
 * 403 for an unknown, expired, revoked or used-up token. Vault >= 1.17 adds
 * `invalid token` (agents use that substring to re-authenticate); OpenBao doesn't.
 */
export function invalidTokenReply(flavor: Flavor): Reply {
  if (flavor === 'openbao') return errorReply(403, PERMISSION_DENIED);
  return errorReply(403, multiErrorText(PERMISSION_DENIED, 'invalid token'));
}

export function sealedReply(): Reply {
  return errorReply(503, 'Vault is sealed');
}

export function unsupportedPathReply(): Reply {
  return errorReply(404, multiErrorText('unsupported path'));
}

export function unsupportedOperationReply(): Reply {
  return errorReply(405, multiErrorText('unsupported operation'));
}

/** GET of an absent item: 404 with an empty error list. */
export function notFoundReply(): Reply {
  return errorReply(404);
}

export function badRequest(message: string): Reply {
  return errorReply(400, message);
}
