import type { CallContext } from './call-context';
import { KmsError } from './errors';

/**
 * What `vault-kubernetes-kms check` asks of the Vault side, one question per
 * step, each answered by a real request. Nothing here changes Vault's state
 * except what the plugin itself does (a login, one encrypt and decrypt).
 */
export interface VaultDiagnosticsPort {
  /** sys/health without a token. Throws KmsError; when no usable HTTP answer came, its `reason` says why. */
  serverInfo(ctx: CallContext): Promise<VaultServerInfo>;
  /** Logs in with the configured method and looks the token up. Throws KmsError. */
  login(ctx: CallContext): Promise<LoginInfo>;
  /**
   * Revokes the token login() obtained (auth/token/revoke-self) when the login
   * created it; a token the operator gave (token auth) is never revoked.
   * Resolves to what happened. Throws KmsError when Vault refused.
   */
  revokeLoginToken(ctx: CallContext): Promise<'revoked' | 'not-created-here' | 'no-login'>;
  /** Every path the plugin uses, with the capability it needs there. */
  requiredCapabilities(): readonly RequiredCapability[];
  /** Which of requiredCapabilities() the token holds. Throws KmsError. */
  checkCapabilities(ctx: CallContext): Promise<CapabilityReport>;
  /** The transit key's metadata, or undefined when there is no such key. Throws KmsError. */
  readKey(ctx: CallContext): Promise<TransitKeyDetails | undefined>;
  /** Encrypts the bytes and decrypts the result. Throws KmsError. */
  roundTrip(plaintext: Uint8Array, ctx: CallContext): Promise<{ keyVersion: number; matches: boolean }>;
}

/**
 * Vault refused the login credential itself (AppRole, userpass): 'wrong-credential'
 * when it called it wrong, 'locked-out' when user lockout refuses even a right one.
 */
export class LoginRefusedError extends KmsError {
  constructor(
    readonly refusal: 'wrong-credential' | 'locked-out',
    message: string,
  ) {
    super('permission-denied', message);
    this.name = 'LoginRefusedError';
  }
}

export interface VaultServerInfo {
  readonly version: string;
  readonly initialized: boolean;
  readonly sealed: boolean;
  readonly standby: boolean;
  /** The server serves X-Vault-Namespace requests from the root namespace (Vault's Community Edition). */
  readonly ignoresNamespaces: boolean;
}

export interface LoginInfo {
  readonly method: string;
  /** Seconds left; 0 means it never expires; -1 when the token may not look itself up. */
  readonly ttlSeconds: number;
  readonly renewable: boolean;
  readonly policies: readonly string[];
  /** The token's period (renewing resets its TTL to it, with no maximum); 0 when not periodic. */
  readonly periodSeconds: number;
  /** A maximum lifetime set on the token itself, which no renewal passes, even a periodic one's; 0 when none. */
  readonly explicitMaxTtlSeconds: number;
}

export interface RequiredCapability {
  readonly path: string;
  readonly capability: 'read' | 'update';
  /** What the plugin does there, for the fix text. */
  readonly purpose: string;
}

export interface CapabilityReport {
  /** 'capabilities-self': Vault listed them; 'probe': sys/capabilities-self was denied, so each path was tried with a request that changes nothing. */
  readonly via: 'capabilities-self' | 'probe';
  readonly missing: readonly RequiredCapability[];
}

export interface TransitKeyDetails {
  readonly type: string;
  readonly latestVersion: number;
  readonly derived: boolean;
  readonly supportsEncryption: boolean;
  readonly supportsDecryption: boolean;
  /** min_encryption_version (0 = latest). */
  readonly minEncryptionVersion: number;
}
