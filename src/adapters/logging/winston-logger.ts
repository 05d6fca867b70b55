import winston from 'winston';
import type { LogFields, LoggerPort } from '../../ports/logger.port';
import { SecretRedactor } from './secret-redactor';

/**
 * JSON lines on stdout: {"level","timestamp","message", ...fields}. Secrets are
 * removed here, once, for every line: values registered with the redactor
 * (token, secret ID) are replaced wherever they appear, and fields whose names
 * say they hold secrets are masked whatever their value.
 */
export class WinstonLogger implements LoggerPort {
  private readonly logger: winston.Logger;

  constructor(
    redactor: SecretRedactor,
    debug: boolean,
    stream: NodeJS.WritableStream = process.stdout,
  ) {
    const redact = winston.format((info) => redactor.redactInfo(info));
    this.logger = winston.createLogger({
      level: debug ? 'debug' : 'info',
      format: winston.format.combine(winston.format.timestamp(), redact(), winston.format.json()),
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
