import { printable } from '../../domain/model/outside-text';

/** One line of the doctor's report. */
/** 'warn': works, but insecure or fragile; exit 0 unless check -strict. */
type StepStatus = 'pass' | 'warn' | 'fail' | 'skip';

export interface StepResult {
  /** Stable identifier, the key in -output json. */
  readonly step: string;
  /** What the line is about, as printed. */
  readonly title: string;
  readonly status: StepStatus;
  /** What was found; for a skipped step, why it did not run. */
  readonly detail: string;
  /** For a failure or a warning: what to change. May span lines (policy rules). */
  readonly fix?: string;
}

const MARK: Record<StepStatus, string> = { pass: '✓', warn: '!', fail: '✗', skip: '-' };

function allPassed(steps: readonly StepResult[]): boolean {
  return steps.every((s) => s.status !== 'fail');
}

/** Exit status 0 when nothing failed; under -strict, a warning fails the run too. */
export function succeeded(steps: readonly StepResult[], strict: boolean): boolean {
  return allPassed(steps) && !(strict && steps.some((s) => s.status === 'warn'));
}

/**
 * One line per step, "✓ title: detail", a failure's or warning's fix indented below it, and a verdict.
 * A detail can quote Vault or the SPIFFE agent: every line is made printable here as well,
 * so no text from outside can start a line of its own or send a terminal escape.
 */
export function formatText(steps: readonly StepResult[], strict = false): string {
  const lines: string[] = [];
  for (const s of steps) {
    lines.push(`${MARK[s.status]} ${s.title}: ${printable(s.status === 'skip' ? `skipped (because ${s.detail})` : s.detail)}`);
    if (s.fix) {
      const [first, ...rest] = s.fix.split('\n').map(printable);
      lines.push(`    fix: ${first}`, ...rest.map((l) => `         ${l}`));
    }
  }
  const failed = steps.filter((s) => s.status === 'fail').length;
  const warned = steps.filter((s) => s.status === 'warn').length;
  const warnings = `${warned} warning${warned === 1 ? '' : 's'}`;
  if (failed > 0) lines.push(`${failed} check${failed === 1 ? '' : 's'} failed${warned > 0 ? `, ${warnings}` : ''}`);
  else if (warned === 0) lines.push('all checks passed');
  else lines.push(strict ? `no check failed, but ${warnings} (-strict: exit status 1)` : `no check failed, but ${warnings}: fix them, or run check -strict to fail on them`);
  return lines.join('\n') + '\n';
}

export function formatJson(steps: readonly StepResult[], strict = false): string {
  return JSON.stringify({ ok: succeeded(steps, strict), warnings: steps.filter((s) => s.status === 'warn').length, steps }, null, 2) + '\n';
}
