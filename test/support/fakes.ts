import 'reflect-metadata';
import type { CallContext } from '../../src/ports/call-context';
import { KmsError } from '../../src/ports/errors';
import { formatVaultCiphertext, splitVaultCiphertext } from '../../src/domain/model/vault-ciphertext';
import type { TokenLookup } from '../../src/ports/token-lookup';
import { domainSettings, type DomainSettings } from '../../src/domain/services/settings';
import type { AuthStrategyPort, TokenSessionPort } from '../../src/ports/auth.port';
import type { ClockPort } from '../../src/ports/clock.port';
import type { LogFields, LoggerPort } from '../../src/ports/logger.port';
import type { DecryptOutcome, EncryptItem, EncryptOutcome, TransitBatchPort, TransitKeyInfo } from '../../src/ports/transit.port';

/** Fakes of the ports, for unit tests of the domain only. */
export class FakeClock implements ClockPort {
  constructor(public t = 1_700_000_000_000) {}
  now(): number {
    return this.t;
  }
  advance(ms: number): void {
    this.t += ms;
  }
}

export class MemoryLogger implements LoggerPort {
  readonly lines: { level: string; message: string; fields?: LogFields }[] = [];
  debug(message: string, fields?: LogFields) { this.lines.push({ level: 'debug', message, fields }); }
  info(message: string, fields?: LogFields) { this.lines.push({ level: 'info', message, fields }); }
  warn(message: string, fields?: LogFields) { this.lines.push({ level: 'warn', message, fields }); }
  error(message: string, fields?: LogFields) { this.lines.push({ level: 'error', message, fields }); }
  isDebugEnabled() { return true; }
}

/** A transit backend that "encrypts" by wrapping the plaintext in the Vault ciphertext format, with scriptable failures. */
export class FakeTransit implements TransitBatchPort {
  version = 1;
  calls = { encrypt: 0, decrypt: 0, readKey: 0 };
  batches: number[] = [];
  failWith: KmsError | undefined;
  /** Resolves pending calls only when released, to test concurrency. */
  gate: Promise<void> | undefined;

  /** Key versions requested per encrypt item (undefined = latest). */
  pinned: (number | undefined)[] = [];

  async encrypt(items: readonly EncryptItem[], _ctx: CallContext): Promise<EncryptOutcome[]> {
    this.calls.encrypt++;
    this.batches.push(items.length);
    await this.gate;
    if (this.failWith) throw this.failWith;
    return items.map(({ plaintext: p, keyVersion }) => {
      this.pinned.push(keyVersion);
      const v = keyVersion ?? this.version;
      return { ok: true as const, ciphertext: formatVaultCiphertext(v, p), keyVersion: v };
    });
  }

  async decrypt(ciphertexts: readonly string[], _ctx: CallContext): Promise<DecryptOutcome[]> {
    this.calls.decrypt++;
    this.batches.push(ciphertexts.length);
    await this.gate;
    if (this.failWith) throw this.failWith;
    return ciphertexts.map((c) => {
      const parts = splitVaultCiphertext(c);
      if (!parts || parts.version > this.version) return { ok: false as const, error: new KmsError('invalid-ciphertext', 'cannot decrypt') };
      return { ok: true as const, plaintext: Buffer.from(parts.payload, 'base64') };
    });
  }

  async readKey(_ctx: CallContext): Promise<TransitKeyInfo> {
    this.calls.readKey++;
    if (this.failWith) throw this.failWith;
    return { latestVersion: this.version, supportsEncryption: true, supportsDecryption: true, type: 'aes256-gcm96' };
  }
}

export class FakeSession implements TokenSessionPort {
  token: string | undefined;
  lookup: TokenLookup = { ttl: 3600, creationTtl: 3600, renewable: true, period: 0 };
  lookupError: KmsError | undefined;
  renewGrant: number | undefined;
  renewError: KmsError | undefined;
  renewals: number[] = [];
  useToken(token: string) { this.token = token; }
  async lookupSelf(): Promise<TokenLookup> {
    if (this.lookupError) throw this.lookupError;
    return this.lookup;
  }
  async renewSelf(increment: number): Promise<{ leaseDurationSeconds: number }> {
    this.renewals.push(increment);
    if (this.renewError) throw this.renewError;
    return { leaseDurationSeconds: this.renewGrant ?? increment };
  }
}

export class FakeAuth implements AuthStrategyPort {
  logins = 0;
  failWith: KmsError | undefined;
  constructor(readonly method = 'approle', readonly canObtainNewToken = true) {}
  async login(): Promise<string> {
    this.logins++;
    if (this.failWith) throw this.failWith;
    return `token-${this.logins}`;
  }
}

/** The plugin's own settings (token check every 60 s, health every 15 s), with a longer background budget and small batches. */
export const TEST_SETTINGS: DomainSettings = {
  ...domainSettings({ tokenRenewalSeconds: 3600, tokenRefreshIntervalMs: 60_000, healthCheckIntervalMs: 15_000 }),
  backgroundTimeoutMs: 10_000,
  coalescing: { maxInFlight: 2, maxBatch: 4 },
};
