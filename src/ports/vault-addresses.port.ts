import type { CallContext } from './call-context';

/** What one check of one Vault address found. `detail` names the node's role or the error; never a secret. */
export interface VaultAddressCheck {
  readonly address: string;
  /** The node can serve requests: active, or a standby (which serves or forwards them). */
  readonly ok: boolean;
  readonly detail: string;
}

/**
 * The Vault addresses the plugin may use (-vault-address lists the nodes of a
 * cluster). Checking them also tells the adapter which it may fail over to.
 */
export interface VaultAddressesPort {
  /** Every configured address, in order of preference; empty when there is no Vault (-dev). */
  addresses(): readonly string[];
  /** Checks every address at once (unauthenticated sys/health), each within ctx's deadline. */
  checkAll(ctx: CallContext): Promise<readonly VaultAddressCheck[]>;
}

export const NO_VAULT_ADDRESSES: VaultAddressesPort = {
  addresses: () => [],
  checkAll: async () => [],
};
