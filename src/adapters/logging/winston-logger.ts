import winston from 'winston';
import { outsideText } from '../../domain/model/outside-text';
import type { LogFields, LoggerPort } from '../../ports/logger.port';
import { SecretRedactor } from './secret-redactor';

/**
 * The longest string a log line carries in one field. Outside texts are cut
 * far shorter where they enter (outside-text.ts); this bounds whatever was
 * missed, so that no peer can make a log line megabytes long.
 */
const MAX_LOG_STRING_CHARS = 4096;

/**
 * JSON lines on stdout: {"level","timestamp","message", ...fields}. Secrets are
 * removed here, once, for every line: values registered with the redactor
 * (token, secret ID) are replaced wherever they appear, and fields whose names
 * say they hold secrets are masked whatever their value. Then every string is
 * made printable and bounded: JSON escapes C0 controls but passes DEL, C1 and
 * the Unicode separators and bidi controls through to whoever reads the log
 * in a terminal.
 */
export class WinstonLogger implements LoggerPort {
  private readonly logger: winston.Logger;

  constructor(
    redactor: SecretRedactor,
    debug: boolean,
    stream: NodeJS.WritableStream = process.stdout,
  ) {
    const redact = winston.format((info) => redactor.redactInfo(info));
    const printable = winston.format((info) => {
      for (const key of Object.keys(info)) (info as Record<string, unknown>)[key] = printableValue(info[key], 0);
      return info;
    });
    this.logger = winston.createLogger({
      level: debug ? 'debug' : 'info',
      format: winston.format.combine(winston.format.timestamp(), redact(), printable(), winston.format.json()),
      transports: [new winston.transports.Stream({ stream })],
    });
  }

  isDebugEnabled(): boolean {
    return this.logger.isLevelEnabled('debug');
  }

  debug(message: string, fields?: LogFields): void {
    if (this.logger.isLevelEnabled('debug')) this.logger.debug(message, { ...fields });
  }

  info(message: string, fields?: LogFields): void {
    this.logger.info(message, { ...fields });
  }

  warn(message: string, fields?: LogFields): void {
    this.logger.warn(message, { ...fields });
  }

  error(message: string, fields?: LogFields): void {
    this.logger.error(message, { ...fields });
  }

  /** Resolves once everything logged so far has been written. */
  flush(): Promise<void> {
    return new Promise((resolve) => {
      this.logger.on('finish', () => resolve());
      this.logger.end();
      setTimeout(resolve, 500).unref();
    });
  }
}

function printableValue(value: unknown, depth: number): unknown {
  if (typeof value === 'string') return outsideText(value, MAX_LOG_STRING_CHARS);
  if (depth > 4 || value === null || typeof value !== 'object') return value;
  if (Array.isArray(value)) return value.map((v) => printableValue(v, depth + 1));
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) out[k] = printableValue(v, depth + 1);
  return out;
}
