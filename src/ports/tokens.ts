/**
 * Injection tokens for the ports and for the values the domain services take.
 * Interfaces have no runtime type (and esbuild emits no decorator metadata),
 * so every one of them is injected by one of these.
 */
export const TOKENS = {
  KmsService: Symbol('KmsServicePort'),
  Transit: Symbol('TransitPort'),
  /** The backend itself, below the batching decorator that TOKENS.Transit resolves to. */
  TransitBackend: Symbol('TransitBackend'),
  AuthStrategy: Symbol('AuthStrategyPort'),
  TokenSession: Symbol('TokenSessionPort'),
  Clock: Symbol('ClockPort'),
  Scheduler: Symbol('SchedulerPort'),
  Random: Symbol('RandomPort'),
  Logger: Symbol('LoggerPort'),
  Metrics: Symbol('MetricsPort'),
  DomainSettings: Symbol('DomainSettings'),
  VaultAddresses: Symbol('VaultAddressesPort'),
  VaultRequests: Symbol('VaultRequestsPort'),
  /** What SIGHUP and SIGUSR2 act on (BackgroundChecks' OperatorControls). */
  OperatorControls: Symbol('OperatorControls'),
  /** How the domain sees the Vault credentials (domain/services/credentials.ts): TokenLifecycle, or constants for -dev. */
  CredentialCheck: Symbol('CredentialCheck'),
  TokenRejectionHandler: Symbol('TokenRejectionHandler'),
  CredentialUpkeep: Symbol('CredentialUpkeep'),
} as const;
