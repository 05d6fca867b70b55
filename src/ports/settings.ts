/**
 * Plain settings the composition root hands to adapters, parsed from the
 * command line by the config adapter. Data only; they live here, inward, so
 * no adapter depends on another adapter for its options.
 */
export interface VaultClientSettings {
  readonly address: string;
  readonly namespace?: string;
  readonly caCertFile?: string;
  readonly caPath?: string;
  readonly clientCertFile?: string;
  readonly clientKeyFile?: string;
  readonly skipVerify: boolean;
  readonly tlsServerName?: string;
  /** Per-attempt timeout (VAULT_CLIENT_TIMEOUT), default 60 s. */
  readonly timeoutMs: number;
  /** Retries after the first attempt (VAULT_MAX_RETRIES), default 2. */
  readonly maxRetries: number;
}

export interface ListenAddress {
  /** Empty string means every interface, as Go's ":8080" does. */
  readonly host: string;
  readonly port: number;
}

export interface SocketLocation {
  /** Filesystem path, or "@name" for a Linux abstract socket. */
  readonly path: string;
  readonly abstract: boolean;
}
