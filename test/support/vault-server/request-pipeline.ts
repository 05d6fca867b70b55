/**
 * One /v1 request through the emulated core, in Vault's order:
 * body parse (400) -> sealed (503) -> unauthenticated paths -> token (403)
 * -> existence check + ACL (403) -> use count -> routing/handler (404/405).
 */
import type { VaultRequest } from './backend';
import type { Reply } from './envelope';
import {
  errorReply,
  invalidTokenReply,
  multiErrorText,
  permissionDeniedReply,
  policyDeniedReply,
  sealedReply,
  unsupportedOperationReply,
  unsupportedPathReply,
} from './envelope';
import type { Operation } from './policies';
import { FieldError, RequestBody } from './request-fields';
import { countRequest } from './stats';
import type { TokenEntry } from './tokens';
import type { MountMatch, VaultState } from './vault-state';

export interface IncomingV1 {
  readonly method: string;
  /** Path after /v1/ without the query string. */
  readonly path: string;
  readonly query: URLSearchParams;
  readonly rawBody: string;
  readonly token: string;
}

export type ParsedV1 =
  | {
      readonly ok: true;
      readonly operation: Operation;
      readonly body: RequestBody;
      readonly match: MountMatch | null;
    }
  | { readonly ok: false; readonly reply: Reply };

const METHOD_OPERATIONS: Readonly<Record<string, Operation>> = {
  GET: 'read',
  HEAD: 'read',
  POST: 'update',
  PUT: 'update',
  DELETE: 'delete',
  LIST: 'list',
};

type BodyParse = { readonly ok: true; readonly body: RequestBody } | { readonly ok: false; readonly reply: Reply };

function parseBody(state: VaultState, rawBody: string): BodyParse {
  if (rawBody.length === 0) return { ok: true, body: {} };
  const prefix = state.flavor === 'vault' ? 'failed to parse JSON input' : 'failed to decode JSON input';
  let parsed: unknown;
  try {
    parsed = JSON.parse(rawBody);
  } catch (err) {
    return { ok: false, reply: errorReply(400, `${prefix}: ${(err as Error).message}`) };
  }
  if (parsed === null) return { ok: true, body: {} };
  if (typeof parsed !== 'object' || Array.isArray(parsed)) {
    const kind = Array.isArray(parsed) ? 'array' : typeof parsed;
    const message = `${prefix}: json: cannot unmarshal ${kind} into Go value of type map[string]interface {}`;
    return { ok: false, reply: errorReply(400, message) };
  }
  return { ok: true, body: parsed as RequestBody };
}

/** Parsing and classification happen first so stats count even faulted requests. */
export function parseV1(state: VaultState, incoming: IncomingV1): ParsedV1 {
  let operation = METHOD_OPERATIONS[incoming.method];
  if (operation === undefined) return { ok: false, reply: unsupportedOperationReply() };
  if (incoming.method === 'GET' && incoming.query.get('list') === 'true') operation = 'list';
  const match = state.resolve(incoming.path);
  const parsedBody = parseBody(state, incoming.rawBody);
  const body = parsedBody.ok ? parsedBody.body : {};
  countRequest(state.stats, match?.backend.mountType ?? null, match?.subPath ?? incoming.path, operation, body);
  if (!parsedBody.ok) return { ok: false, reply: parsedBody.reply };
  return { ok: true, operation, body, match };
}

function noRouteReply(path: string): Reply {
  return errorReply(404, `no handler for route ${JSON.stringify(path)}. route entry not found.`);
}

export function executeV1(state: VaultState, incoming: IncomingV1, parsed: Extract<ParsedV1, { ok: true }>): Reply {
  const { match, body } = parsed;
  let operation = parsed.operation;
  const subPath = match?.subPath ?? '';
  const unauthenticated = match?.backend.isUnauthenticated?.(subPath) ?? false;
  const sealExempt = unauthenticated && match?.backend === state.sys;
  if (state.sealed() && !sealExempt) return sealedReply();

  let token: TokenEntry | null = null;
  if (!unauthenticated) {
    if (incoming.token === '') return permissionDeniedReply();
    token = state.tokens.lookupValid(incoming.token) ?? null;
    if (!token) return invalidTokenReply(state.flavor);
    if (operation === 'update' && match?.backend.exists && !match.backend.exists(subPath)) operation = 'create';
    const isRoot = token.policies.includes('root');
    const needsSudo = match?.backend.needsSudo?.(subPath) ?? false;
    if (!isRoot && !state.policies.aclFor(token.policies).allows(incoming.path, operation, needsSudo)) {
      return policyDeniedReply();
    }
    state.tokens.consumeUse(token);
  }
  if (!match) return noRouteReply(incoming.path);

  const request: VaultRequest = { method: incoming.method, operation, path: incoming.path, query: incoming.query, body, token };
  try {
    return match.backend.handle(request, subPath) ?? unsupportedPathReply();
  } catch (err) {
    if (err instanceof FieldError) return errorReply(400, err.message);
    return errorReply(500, multiErrorText((err as Error).message));
  }
}
