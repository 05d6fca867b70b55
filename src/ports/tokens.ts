/**
 * Injection tokens for the ports. Interfaces have no runtime type (and esbuild
 * emits no decorator metadata), so every port is injected by one of these.
 */
export const TOKENS = {
  KmsService: Symbol('KmsServicePort'),
  Transit: Symbol('TransitPort'),
  /** The backend itself, below the batching decorator that TOKENS.Transit resolves to. */
  TransitBackend: Symbol('TransitBackend'),
  AuthStrategy: Symbol('AuthStrategyPort'),
  TokenSession: Symbol('TokenSessionPort'),
  Clock: Symbol('ClockPort'),
  Logger: Symbol('LoggerPort'),
  Metrics: Symbol('MetricsPort'),
  DomainSettings: Symbol('DomainSettings'),
  VaultAddresses: Symbol('VaultAddressesPort'),
} as const;
