import { printable } from '../../domain/model/outside-text';

/** One line of the doctor's report. */
export type StepStatus = 'pass' | 'fail' | 'skip';

export interface StepResult {
  /** Stable identifier, the key in -output json. */
  readonly step: string;
  /** What the line is about, as printed. */
  readonly title: string;
  readonly status: StepStatus;
  /** What was found; for a skipped step, why it did not run. */
  readonly detail: string;
  /** For a failure: what to change. May span lines (policy rules). */
  readonly fix?: string;
}

const MARK: Record<StepStatus, string> = { pass: '✓', fail: '✗', skip: '-' };

export function allPassed(steps: readonly StepResult[]): boolean {
  return steps.every((s) => s.status !== 'fail');
}

/**
 * One line per step, "✓ title: detail", a failure's fix indented below it, and a verdict.
 * A detail can quote Vault or the SPIFFE agent: every line is made printable here as well,
 * so no text from outside can start a line of its own or send a terminal escape.
 */
export function formatText(steps: readonly StepResult[]): string {
  const lines: string[] = [];
  for (const s of steps) {
    lines.push(`${MARK[s.status]} ${s.title}: ${printable(s.status === 'skip' ? `skipped (because ${s.detail})` : s.detail)}`);
    if (s.fix) {
      const [first, ...rest] = s.fix.split('\n').map(printable);
      lines.push(`    fix: ${first}`, ...rest.map((l) => `         ${l}`));
    }
  }
  const failed = steps.filter((s) => s.status === 'fail').length;
  lines.push(failed === 0 ? 'all checks passed' : `${failed} check${failed === 1 ? '' : 's'} failed`);
  return lines.join('\n') + '\n';
}

export function formatJson(steps: readonly StepResult[]): string {
  return JSON.stringify({ ok: allPassed(steps), steps }, null, 2) + '\n';
}
