/**
 * Injection tokens for the ports. Interfaces have no runtime type (and esbuild
 * emits no decorator metadata), so every port is injected by one of these.
 */
export const TOKENS = {
  Transit: Symbol('TransitPort'),
  AuthStrategy: Symbol('AuthStrategyPort'),
  TokenSession: Symbol('TokenSessionPort'),
  Clock: Symbol('ClockPort'),
  Logger: Symbol('LoggerPort'),
  Metrics: Symbol('MetricsPort'),
  DomainSettings: Symbol('DomainSettings'),
} as const;
