/**
 * Runs an async task forever: every intervalMs while it succeeds, and with
 * jittered exponential backoff (from minRetryMs up to intervalMs) while it
 * fails, so a Vault outage is noticed and recovered from quickly without
 * hammering Vault. Never overlaps runs; stop() ends it.
 */
export class PeriodicTask {
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  private failures = 0;
  private running: Promise<void> | undefined;

  constructor(
    private readonly task: () => Promise<boolean>,
    private readonly intervalMs: number,
    private readonly minRetryMs: number,
    /** Longest wait between runs while failing (default intervalMs). */
    private readonly maxRetryMs: number = intervalMs,
  ) {}

  start(runNow = true): void {
    this.schedule(runNow ? 0 : this.intervalMs);
  }

  /** Run as soon as possible (e.g. a request just failed), unless a run is already under way. */
  poke(): void {
    if (this.stopped || this.running) return;
    this.schedule(0);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    await this.running;
  }

  private schedule(delayMs: number): void {
    if (this.stopped) return;
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => void this.run(), delayMs);
    this.timer.unref();
  }

  private async run(): Promise<void> {
    this.timer = undefined;
    let ok = false;
    this.running = (async () => {
      try {
        ok = await this.task();
      } catch {
        ok = false;
      }
    })();
    await this.running;
    this.running = undefined;
    this.failures = ok ? 0 : this.failures + 1;
    const backoff = Math.min(this.intervalMs, this.maxRetryMs, this.minRetryMs * 2 ** Math.min(this.failures - 1, 10));
    this.schedule(ok ? this.intervalMs : backoff * (0.75 + Math.random() * 0.5));
  }
}
