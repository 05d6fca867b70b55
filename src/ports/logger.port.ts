/** Structured events. Fields are data, never pre-formatted sentences; secrets are redacted by the adapter. */
export type LogFields = Readonly<Record<string, unknown>>;

export interface LoggerPort {
  debug(message: string, fields?: LogFields): void;
  info(message: string, fields?: LogFields): void;
  warn(message: string, fields?: LogFields): void;
  error(message: string, fields?: LogFields): void;
  isDebugEnabled(): boolean;
}
