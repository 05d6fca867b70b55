/**
 * Path dispatch for one transit mount.
 */
import type { Backend, VaultRequest } from './backend';
import { splitPath } from './backend';
import type { Flavor, Reply, ResponseSite } from './envelope';
import { unsupportedOperationReply } from './envelope';
import type { ServerClock } from './time';
import { EncryptDeps, handleDecrypt, handleEncrypt } from './transit-operations';
import {
  TransitMountState,
  configureKey,
  createKey,
  deleteKey,
  keysConfig,
  listKeys,
  readKey,
  rotateKey,
} from './transit-keys';

/** Vault's key-name pattern `\w(([\w-.]+)?\w)?`. */
const KEY_NAME = /^\w(?:[\w.-]*\w)?$/;

export class TransitBackend implements Backend {
  readonly mountType = 'transit';
  readonly state = new TransitMountState();
  private readonly site: ResponseSite;
  private readonly deps: EncryptDeps;

  constructor(flavor: Flavor, private readonly clock: ServerClock) {
    this.site = { flavor, mountType: this.mountType };
    this.deps = { site: this.site, mount: this.state, nowSeconds: () => clock.nowSeconds() };
  }

  /** Only encrypt has an existence check: a missing key turns the request into `create` (upsert). */
  exists(subPath: string): boolean {
    const parts = splitPath(subPath);
    if (parts.length === 2 && parts[0] === 'encrypt') return this.state.keys.has(parts[1]!);
    return true;
  }

  handle(req: VaultRequest, subPath: string): Reply | null {
    const parts = splitPath(subPath);
    const op = req.operation;
    const writes = op === 'update' || op === 'create';
    const [head, name, action] = parts;
    if (head === 'encrypt' || head === 'decrypt') {
      if (parts.length !== 2 || !KEY_NAME.test(name!)) return null;
      if (!writes) return unsupportedOperationReply();
      return head === 'encrypt' ? handleEncrypt(this.deps, name!, req.body) : handleDecrypt(this.deps, name!, req.body);
    }
    if (head === 'keys') return this.handleKeys(req, parts.length, name, action);
    if (head === 'config' && name === 'keys' && parts.length === 2) {
      if (op === 'read') return keysConfig(this.site, this.state, null);
      if (writes) return keysConfig(this.site, this.state, req.body);
      return unsupportedOperationReply();
    }
    return null;
  }

  private handleKeys(req: VaultRequest, depth: number, name: string | undefined, action: string | undefined): Reply | null {
    const op = req.operation;
    const writes = op === 'update' || op === 'create';
    const now = this.clock.nowSeconds();
    if (depth === 1) return op === 'list' ? listKeys(this.site, this.state) : unsupportedOperationReply();
    if (name === undefined || !KEY_NAME.test(name)) return null;
    if (depth === 2) {
      if (op === 'read') return readKey(this.site, this.state, name);
      if (writes) return createKey(this.site, this.state, name, req.body, now);
      if (op === 'delete') return deleteKey(this.state, name);
      return unsupportedOperationReply();
    }
    if (depth !== 3) return null;
    if (action === 'rotate') return writes ? rotateKey(this.site, this.state, name, now) : unsupportedOperationReply();
    if (action === 'config') return writes ? configureKey(this.site, this.state, name, req.body) : unsupportedOperationReply();
    return null;
  }
}
