import type { ListenAddress, SocketLocation, VaultClientSettings } from '../../ports/settings';

export type { ListenAddress, SocketLocation, VaultClientSettings };

/** The validated configuration the composition root wires from. */

/** The validated configuration the composition root wires from. */
export type AuthSettings =
  | { readonly method: 'token'; readonly token?: string; readonly tokenFile?: string }
  | {
      readonly method: 'approle';
      readonly mount: string;
      readonly roleId: string;
      readonly secretId?: string;
      readonly secretIdFile?: string;
    }
  | { readonly method: 'dev' };

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
}

export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}
