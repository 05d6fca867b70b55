/**
 * What every emulated mount (transit, token, approle, sys) implements, and the
 * request shape the pipeline hands to it.
 */
import type { Reply } from './envelope';
import type { Operation } from './policies';
import type { RequestBody } from './request-fields';
import type { TokenEntry } from './tokens';

export interface VaultRequest {
  readonly method: string;
  readonly operation: Operation;
  /** Path after /v1/, without the query string. */
  readonly path: string;
  readonly query: URLSearchParams;
  readonly body: RequestBody;
  /** The authenticated token; null on unauthenticated paths (login, health). */
  readonly token: TokenEntry | null;
}

export interface Backend {
  /** `mount_type` in vault-flavor envelopes. */
  readonly mountType: string;
  /** Existence check: returning false turns an update into a create (transit upsert). */
  exists?(subPath: string): boolean;
  /** Paths reachable without a token (AppRole login). */
  isUnauthenticated?(subPath: string): boolean;
  /** Paths that need `sudo` on top of the operation's capability. */
  needsSudo?(subPath: string): boolean;
  /** null = no such path on this mount (404 unsupported path). */
  handle(req: VaultRequest, subPath: string): Reply | null;
}

export function splitPath(subPath: string): string[] {
  return subPath.split('/').filter((s) => s.length > 0);
}
