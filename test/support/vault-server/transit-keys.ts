/**
 * Transit keys: the key model and the keys/* endpoints (vault-api.md §1.3-1.4).
 */
import type { Flavor, Reply, ResponseSite } from './envelope';
import { NO_CONTENT, badRequest, notFoundReply, okReply } from './envelope';
import { GoMap } from './go-json';
import { RequestBody, has, readBool, readDuration, readInt, readString } from './request-fields';
import { KNOWN_UNSUPPORTED_TYPES, TransitKeyType, isSupportedKeyType, newKeyMaterial } from './transit-crypto';

export interface KeyVersion {
  readonly material: Buffer;
  /** Unix seconds, as shown in the `keys` map. */
  readonly createdAt: number;
}

export interface KeyOptions {
  readonly type: TransitKeyType;
  readonly derived: boolean;
  readonly exportable: boolean;
  readonly allowPlaintextBackup: boolean;
  readonly autoRotatePeriod: number;
}

export class TransitKey {
  readonly versions: KeyVersion[] = [];
  minDecryptionVersion = 1;
  minEncryptionVersion = 0;
  readonly minAvailableVersion = 0;
  deletionAllowed = false;
  exportable: boolean;
  allowPlaintextBackup: boolean;
  autoRotatePeriod: number;
  readonly type: TransitKeyType;
  readonly derived: boolean;

  constructor(
    readonly name: string,
    options: KeyOptions,
    nowSeconds: number,
  ) {
    this.type = options.type;
    this.derived = options.derived;
    this.exportable = options.exportable;
    this.allowPlaintextBackup = options.allowPlaintextBackup;
    this.autoRotatePeriod = options.autoRotatePeriod;
    this.rotate(nowSeconds);
  }

  get latestVersion(): number {
    return this.versions.length;
  }

  /** Key material of a version (1-based); callers check the range first. */
  material(version: number): Buffer {
    return this.versions[version - 1]!.material;
  }

  rotate(nowSeconds: number): number {
    this.versions.push({ material: newKeyMaterial(this.type), createdAt: nowSeconds });
    return this.latestVersion;
  }

  /** `data` of GET keys/:name. */
  body(flavor: Flavor): Record<string, unknown> {
    const keys: Record<string, number> = {};
    this.versions.forEach((v, i) => (keys[String(i + 1)] = v.createdAt));
    const data: Record<string, unknown> = {
      allow_plaintext_backup: this.allowPlaintextBackup,
      auto_rotate_period: this.autoRotatePeriod,
      deletion_allowed: this.deletionAllowed,
      derived: this.derived,
      exportable: this.exportable,
      imported_key: false,
      keys: new GoMap(keys),
      latest_version: this.latestVersion,
      min_available_version: this.minAvailableVersion,
      min_decryption_version: this.minDecryptionVersion,
      min_encryption_version: this.minEncryptionVersion,
      name: this.name,
      supports_decryption: true,
      supports_derivation: true,
      supports_encryption: true,
      supports_signing: false,
      type: this.type,
    };
    if (this.derived) {
      data.kdf = 'hkdf_sha256';
      data.convergent_encryption = false;
    }
    if (flavor === 'openbao') data.soft_deleted = false;
    return data;
  }
}

/** One transit mount's keys and its config/keys settings. */
export class TransitMountState {
  readonly keys = new Map<string, TransitKey>();
  disableUpsert = false;
}

export type KeyOptionsResult = { readonly ok: true; readonly options: KeyOptions } | { readonly ok: false; readonly error: string };

/** Validates create/upsert parameters; shared by keys/:name and encrypt upsert. */
export function keyOptionsFrom(body: RequestBody, derivedDefault = false): KeyOptionsResult {
  const type = readString(body, 'type', 'aes256-gcm96');
  if (!isSupportedKeyType(type)) {
    if (KNOWN_UNSUPPORTED_TYPES.has(type)) {
      return { ok: false, error: `key type ${type} is not supported by the Vault test server` };
    }
    return { ok: false, error: `unknown key type ${type}` };
  }
  const derived = readBool(body, 'derived', derivedDefault);
  if (readBool(body, 'convergent_encryption')) {
    if (!derived) return { ok: false, error: 'convergent encryption requires derivation to be enabled' };
    return { ok: false, error: 'convergent encryption is not supported by the Vault test server' };
  }
  const autoRotatePeriod = readDuration(body, 'auto_rotate_period');
  if (autoRotatePeriod !== 0 && autoRotatePeriod < 3600) {
    return { ok: false, error: 'auto rotate period must be 0 to disable or at least an hour' };
  }
  return {
    ok: true,
    options: {
      type,
      derived,
      exportable: readBool(body, 'exportable'),
      allowPlaintextBackup: readBool(body, 'allow_plaintext_backup'),
      autoRotatePeriod,
    },
  };
}

export function readKey(site: ResponseSite, mount: TransitMountState, name: string): Reply {
  const key = mount.keys.get(name);
  return key ? okReply(site, key.body(site.flavor)) : notFoundReply();
}

export function listKeys(site: ResponseSite, mount: TransitMountState): Reply {
  if (mount.keys.size === 0) return notFoundReply();
  return okReply(site, { keys: [...mount.keys.keys()].sort() });
}

export function createKey(site: ResponseSite, mount: TransitMountState, name: string, body: RequestBody, nowSeconds: number): Reply {
  const existing = mount.keys.get(name);
  if (existing) return okReply(site, existing.body(site.flavor), { warnings: [`key ${name} already existed`] });
  const parsed = keyOptionsFrom(body);
  if (!parsed.ok) return badRequest(parsed.error);
  const key = new TransitKey(name, parsed.options, nowSeconds);
  mount.keys.set(name, key);
  return okReply(site, key.body(site.flavor));
}

export function rotateKey(site: ResponseSite, mount: TransitMountState, name: string, nowSeconds: number): Reply {
  const key = mount.keys.get(name);
  if (!key) return badRequest('key not found');
  key.rotate(nowSeconds);
  return okReply(site, key.body(site.flavor));
}

/** POST keys/:name/config with the validation messages of vault-api.md §1.4. */
export function configureKey(site: ResponseSite, mount: TransitMountState, name: string, body: RequestBody): Reply {
  const key = mount.keys.get(name);
  if (!key) return badRequest(`no existing key named ${name} could be found`);
  const warnings: string[] = [];
  let minDecryption = key.minDecryptionVersion;
  let minEncryption = key.minEncryptionVersion;
  if (has(body, 'min_decryption_version')) {
    minDecryption = readInt(body, 'min_decryption_version');
    if (minDecryption < 0) return badRequest('min decryption version cannot be negative');
    if (minDecryption === 0) {
      minDecryption = 1;
      warnings.push('since Vault 0.3, transit key numbering starts at 1; forcing minimum to 1');
    }
    if (minDecryption > key.latestVersion) {
      return badRequest(`cannot set min decryption version of ${minDecryption}, latest key version is ${key.latestVersion}`);
    }
  }
  if (has(body, 'min_encryption_version')) {
    minEncryption = readInt(body, 'min_encryption_version');
    if (minEncryption < 0) return badRequest('min encryption version cannot be negative');
    if (minEncryption > key.latestVersion) {
      return badRequest(`cannot set min encryption version of ${minEncryption}, latest key version is ${key.latestVersion}`);
    }
  }
  if (minEncryption > 0 && minEncryption < minDecryption) {
    return badRequest(
      `cannot set min encryption/decryption values; min encryption version of ${minEncryption} must be greater than or equal to min decryption version of ${minDecryption}`,
    );
  }
  if (minEncryption > 0 && minEncryption < key.minAvailableVersion) {
    return badRequest('min encryption version should not be less than min available version');
  }
  if (has(body, 'exportable') && !readBool(body, 'exportable') && key.exportable) {
    return badRequest('exportable key cannot be made non-exportable');
  }
  if (has(body, 'allow_plaintext_backup') && !readBool(body, 'allow_plaintext_backup') && key.allowPlaintextBackup) {
    return badRequest('plaintext backup cannot be disabled');
  }
  if (has(body, 'auto_rotate_period')) {
    const period = readDuration(body, 'auto_rotate_period');
    if (period !== 0 && period < 3600) return badRequest('auto rotate period must be 0 to disable or at least an hour');
    key.autoRotatePeriod = period;
  }
  key.minDecryptionVersion = minDecryption;
  key.minEncryptionVersion = minEncryption;
  if (has(body, 'deletion_allowed')) key.deletionAllowed = readBool(body, 'deletion_allowed');
  if (readBool(body, 'exportable')) key.exportable = true;
  if (readBool(body, 'allow_plaintext_backup')) key.allowPlaintextBackup = true;
  return okReply(site, key.body(site.flavor), { warnings });
}

export function deleteKey(mount: TransitMountState, name: string): Reply {
  const key = mount.keys.get(name);
  if (!key) return badRequest(`error deleting policy ${name}: could not delete key; not found`);
  if (!key.deletionAllowed) return badRequest(`error deleting policy ${name}: deletion is not allowed for this key`);
  mount.keys.delete(name);
  return NO_CONTENT;
}

/** GET/POST config/keys ({"disable_upsert": bool}). */
export function keysConfig(site: ResponseSite, mount: TransitMountState, body: RequestBody | null): Reply {
  if (body && has(body, 'disable_upsert')) mount.disableUpsert = readBool(body, 'disable_upsert');
  return okReply(site, { disable_upsert: mount.disableUpsert });
}

