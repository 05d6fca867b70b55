/**
 * The validated configuration the composition roots wire from. The Vault
 * adapter owns the shape of its settings (VaultClientSettings) and the
 * configuration fills it in; the other shapes are the configuration's own,
 * and src/compose, which hands them to the adapters, is where TypeScript
 * checks that they fit.
 */
import type { VaultClientSettings } from '../adapters/vault/vault-settings';

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
