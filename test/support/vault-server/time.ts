/**
 * The server clock and the duration formats Vault speaks.
 *
 * Every TTL computation reads ServerClock instead of Date.now() so tests can
 * jump forward (expire a token) or freeze time (exact TTL assertions) without
 * waiting on the wall clock.
 */

export class ServerClock {
  private offsetMs = 0;
  private frozenAtMs: number | null = null;

  nowMs(): number {
    return this.frozenAtMs ?? Date.now() + this.offsetMs;
  }

  nowSeconds(): number {
    return Math.floor(this.nowMs() / 1000);
  }

  advance(seconds: number): void {
    if (this.frozenAtMs !== null) this.frozenAtMs += seconds * 1000;
    else this.offsetMs += seconds * 1000;
  }

  /**
   * Stop time at the current whole second (advance() still moves it). Whole
   * seconds make TTLs exact: Vault rounds "now" to the second in lookups.
   */
  freeze(): void {
    this.frozenAtMs ??= Math.floor(this.nowMs() / 1000) * 1000;
  }

  /** Let time flow again from where it stands now. */
  unfreeze(): void {
    if (this.frozenAtMs === null) return;
    this.offsetMs = this.frozenAtMs - Date.now();
    this.frozenAtMs = null;
  }

  get frozen(): boolean {
    return this.frozenAtMs !== null;
  }

  reset(): void {
    this.offsetMs = 0;
    this.frozenAtMs = null;
  }
}

const UNIT_SECONDS: Record<string, number> = {
  ns: 1e-9,
  us: 1e-6,
  'µs': 1e-6,
  ms: 1e-3,
  s: 1,
  m: 60,
  h: 3600,
  d: 86400,
};
const INTEGER_TEXT = /^[+-]?\d+$/;
const DURATION_PART = /(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h|d)/y;
const TRAILING_ZEROS = /0+$/;

export class DurationError extends Error {}

/**
 * parseutil.ParseDurationSecond: a JSON number or bare integer string means
 * seconds, otherwise a Go duration string ("1h30m", "90s", "2d"). Returns
 * whole seconds (sub-second parts are dropped, as Vault's TTLs are seconds).
 */
export function parseDurationSeconds(raw: unknown): number {
  if (raw === undefined || raw === null || raw === '') return 0;
  if (typeof raw === 'number') {
    if (!Number.isFinite(raw)) throw new DurationError(`time: invalid duration "${raw}"`);
    return Math.trunc(raw);
  }
  if (typeof raw !== 'string') throw new DurationError(`time: invalid duration "${String(raw)}"`);
  const text = raw.trim();
  if (INTEGER_TEXT.test(text)) return Number.parseInt(text, 10);
  let sign = 1;
  let rest = text;
  if (rest.startsWith('-') || rest.startsWith('+')) {
    sign = rest.startsWith('-') ? -1 : 1;
    rest = rest.slice(1);
  }
  let total = 0;
  let pos = 0;
  DURATION_PART.lastIndex = 0;
  while (pos < rest.length) {
    DURATION_PART.lastIndex = pos;
    const m = DURATION_PART.exec(rest);
    if (!m) throw new DurationError(`time: invalid duration "${raw}"`);
    total += Number.parseFloat(m[1]!) * UNIT_SECONDS[m[2]!]!;
    pos = DURATION_PART.lastIndex;
  }
  if (rest.length === 0) throw new DurationError(`time: invalid duration "${raw}"`);
  return sign * Math.floor(total + 1e-9);
}

/**
 * Vault's humanDuration(): Go's Duration.String() with the noisy zero units
 * removed, e.g. 3600 -> "1h", 3660 -> "1h1m", 598 -> "9m58s".
 */
export function humanDuration(totalSeconds: number): string {
  if (totalSeconds === 0) return '0s';
  const negative = totalSeconds < 0;
  let rest = Math.abs(totalSeconds);
  const hours = Math.floor(rest / 3600);
  rest -= hours * 3600;
  const minutes = Math.floor(rest / 60);
  const seconds = rest - minutes * 60;
  let text = hours > 0 ? `${hours}h${minutes}m${seconds}s` : minutes > 0 ? `${minutes}m${seconds}s` : `${seconds}s`;
  if (text.endsWith('m0s')) text = text.slice(0, -2);
  const hourZeroMinutes = text.indexOf('h0m');
  if (hourZeroMinutes > 0) text = text.slice(0, hourZeroMinutes + 1) + text.slice(hourZeroMinutes + 3);
  return (negative ? '-' : '') + text;
}

/** Go's time.Time in RFC3339Nano (UTC, trailing fractional zeros trimmed). */
export function formatGoTime(ms: number): string {
  const iso = new Date(ms).toISOString(); // 2023-11-14T23:13:20.120Z
  const [stamp, fraction] = iso.slice(0, -1).split('.');
  const trimmed = (fraction ?? '').replace(TRAILING_ZEROS, '');
  return trimmed.length > 0 ? `${stamp}.${trimmed}Z` : `${stamp}Z`;
}
