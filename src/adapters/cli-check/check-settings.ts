/** `check`'s own options, read by the command-line parser (src/config/command-line.ts). */
export interface CheckOptions {
  /** -output: one line per check, or the same as one JSON object. */
  readonly output: 'text' | 'json';
  /** -strict: a warning fails the check too. */
  readonly strict: boolean;
}
