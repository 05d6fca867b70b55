import type { KmsErrorKind } from './errors';
import type { VaultAddressCheck } from './vault-addresses.port';

export type KmsApiVersion = 'v1' | 'v2';
export type KmsOperation = 'encrypt' | 'decrypt' | 'status' | 'version';
export type Outcome = 'success' | KmsErrorKind;

/** What the domain reports; the Prometheus adapter decides names and labels. */
export interface MetricsPort {
  kmsRequest(api: KmsApiVersion, op: KmsOperation, outcome: Outcome, seconds: number): void;
  tokenRenewal(outcome: 'success' | 'failure' | 'relogin'): void;
  tokenTtl(seconds: number): void;
  keyVersion(version: number): void;
  health(healthy: boolean): void;
  batchSize(op: 'encrypt' | 'decrypt', items: number): void;
  singleFlightHit(): void;
  /** The last check of each Vault address (optional: only a Vault backend has addresses). */
  vaultAddresses?(checks: readonly VaultAddressCheck[]): void;
}

export const NO_METRICS: MetricsPort = {
  kmsRequest() {},
  tokenRenewal() {},
  tokenTtl() {},
  keyVersion() {},
  health() {},
  batchSize() {},
  singleFlightHit() {},
};
