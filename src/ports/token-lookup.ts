/** What auth/token/lookup-self tells about the token in use: the input of the renewal policy. */
export interface TokenLookup {
  /** Seconds left. */
  readonly ttl: number;
  /** TTL granted at creation (0 = never expires). */
  readonly creationTtl: number;
  readonly renewable: boolean;
  /** Period of a periodic token in seconds, 0 if none. */
  readonly period: number;
}
