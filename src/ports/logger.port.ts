/** Structured events. Fields are data, never pre-formatted sentences; secrets are redacted by the adapter. */
export type LogFields = Readonly<Record<string, unknown>>;

export interface LoggerPort {
  debug(message: string, fields?: LogFields): void;
  info(message: string, fields?: LogFields): void;
  warn(message: string, fields?: LogFields): void;
  error(message: string, fields?: LogFields): void;
  isDebugEnabled(): boolean;
}

/**
 * Who chose a secret the log redactor is told about: the operator (a flag's
 * value, a credential file's content), or another party that issued it (a
 * token in Vault's login answer, a JWT from an identity provider or a SPIFFE
 * agent). The redactor hides an operator's secret whatever it looks like, an
 * issued one only when it looks like a token: a hostile Vault that issued
 * "evidence" as a token must not erase that word from every later log line.
 */
export type SecretOrigin = 'operator' | 'issued';

/** Called with every secret the moment it is read or received, before anything could log it. */
export type SecretSink = (secret: string, origin: SecretOrigin) => void;
