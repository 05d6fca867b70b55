/** How to reach Vault: the Vault adapter's own settings, filled in by the composition root from the configuration. */
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
  /** A client certificate and key given as PEM text (cert auth's login client); used instead of the two files. */
  readonly clientIdentity?: { readonly cert: string; readonly key: string };
  readonly skipVerify: boolean;
  readonly tlsServerName?: string;
  /** Per-attempt timeout (VAULT_CLIENT_TIMEOUT), default 60 s. */
  readonly timeoutMs: number;
  /** Most retries after the first attempt (VAULT_MAX_RETRIES); Infinity (the default) retries until the caller's deadline. */
  readonly maxRetries: number;
  /** Origins besides -vault-address's own that a redirect may lead to (-vault-redirect-origins). */
  readonly redirectOrigins?: readonly string[];
  /** HTTP_PROXY / HTTPS_PROXY / NO_PROXY (either case), as Vault's Go client reads them. */
  readonly proxy?: ProxySettings;
}

interface ProxySettings {
  readonly httpProxy?: string;
  readonly httpsProxy?: string;
  readonly noProxy?: string;
}
