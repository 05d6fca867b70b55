import { appendFileSync, mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';

/**
 * Everything the plugin says to the outside during the test run (log lines,
 * gRPC error messages, /metrics pages) is appended here by every suite, and
 * every credential handed to a plugin is recorded. test/secret-leaks/leak-scan runs
 * after all other suites and fails if any recorded secret, any Vault token or
 * any plaintext marker appears in the captured output.
 */
export const CAPTURE_DIR = resolve(__dirname, '../../../dist/test-capture');
/** Plaintexts built from this marker are searched for in all output. */
export const PLAINTEXT_MARKER = 'PLAINTEXT-MARKER-7f3a9c';

function append(file: string, line: string): void {
  try {
    appendFileSync(join(CAPTURE_DIR, file), line);
  } catch {
    // The directory is reset at the start of a test run; recreate it rather than crash a long run.
    mkdirSync(CAPTURE_DIR, { recursive: true });
    appendFileSync(join(CAPTURE_DIR, file), line);
  }
}

export function captureOutput(source: string, text: string): void {
  append(`output-${process.pid}.log`, `[${source}] ${text}\n`);
}

export function captureSecret(value: string | undefined): void {
  if (value && value.length >= 6) append(`secrets-${process.pid}.txt`, `${value}\n`);
}

/** A plaintext that the leak scan recognises. */
export function markedPlaintext(n: number): Buffer {
  return Buffer.from(`${PLAINTEXT_MARKER}-${String(n).padStart(6, '0')}`);
}
