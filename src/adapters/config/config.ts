/**
 * The validated configuration the composition root wires from. The shapes are
 * the config adapter's own; each adapter declares the settings it takes, and
 * main.ts, which hands one to the other, is where TypeScript checks they fit.
 */
export interface VaultClientSettings {
  /** The first (or only) address of -vault-address. */
  readonly address: string;
  /** Every address of -vault-address when it lists several nodes of one cluster, in order of preference. */
  readonly addresses?: readonly string[];
  readonly namespace?: string;
  readonly caCertFile?: string;
  readonly caPath?: string;
  readonly clientCertFile?: string;
  readonly clientKeyFile?: string;
  readonly skipVerify: boolean;
  readonly tlsServerName?: string;
  /** Per-attempt timeout (VAULT_CLIENT_TIMEOUT), default 60 s. */
  readonly timeoutMs: number;
  /** Most retries after the first attempt (VAULT_MAX_RETRIES); Infinity (the default) retries until the caller's deadline. */
  readonly maxRetries: number;
  readonly proxy?: { readonly httpProxy?: string; readonly httpsProxy?: string; readonly noProxy?: string };
  /** Origins besides -vault-address's own that a redirect may lead to (-vault-redirect-origins). */
  readonly redirectOrigins?: readonly string[];
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

export type AuthSettings =
  | { readonly method: 'token'; readonly token?: string; readonly tokenFile?: string }
  | {
      readonly method: 'approle';
      readonly mount: string;
      readonly roleId: string;
      readonly secretId?: string;
      readonly secretIdFile?: string;
    }
  | { readonly method: 'userpass'; readonly mount: string; readonly username: string; readonly password?: string; readonly passwordFile?: string }
  | { readonly method: 'cert'; readonly mount: string; readonly role: string; readonly files: CertFiles }
  | { readonly method: 'jwt'; readonly mount: string; readonly role: string; readonly source: JwtSource }
  | { readonly method: 'dev' };

/** Where the client certificate and its key are: two files, or one combined PEM file (the kubelet's). */
export type CertFiles =
  | { readonly kind: 'pair'; readonly certFile: string; readonly keyFile: string }
  | { readonly kind: 'combined'; readonly pemFile: string };

export type JwtSource =
  | { readonly kind: 'file'; readonly path: string }
  | { readonly kind: 'spiffe'; readonly endpoint: string; readonly audience: string; readonly spiffeId?: string };

export interface PluginConfig {
  readonly dev: boolean;
  readonly vault: VaultClientSettings;
  readonly transitMount: string;
  readonly transitKey: string;
  readonly auth: AuthSettings;
  readonly tokenRefreshIntervalMs: number;
  readonly tokenRenewalSeconds: number;
  readonly socketUrl: string;
  readonly socket: SocketLocation;
  readonly socketMode: number;
  readonly forceSocketOverwrite: boolean;
  readonly debug: boolean;
  readonly health: ListenAddress;
  readonly healthCheckIntervalMs: number;
  readonly enableV1: boolean;
  readonly enableV2: boolean;
  /** Things the operator should know about the configuration (never secrets), logged once at start. */
  readonly notices: readonly string[];
}

export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}
