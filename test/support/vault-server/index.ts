/**
 * Vault/OpenBao-compatible HTTP test server ("emulator"). See README.md.
 */
export { startVaultTestServer } from './vault-test-server';
export type {
  CreatedSecretId,
  CreatedTestToken,
  VaultTestServer,
  VaultTestServerOptions,
} from './vault-test-server';
export type { CreateTokenOptions } from './token-backend';
export type { FaultKind, FaultRule } from './faults';
export { FAULT_KINDS } from './faults';
export type { Flavor } from './envelope';
export type { SeedCredentials } from './vault-state';
/** Pure crypto helpers, e.g. to check the test vectors of vault-api.md §2. */
export { encryptWithNonce, parseCiphertext } from './transit-crypto';
