/** A task that runs again and again until stopped. */
export interface RepeatingTask {
  /** Run as soon as possible (a request just failed, a login just ended), unless a run is already under way. */
  poke(): void;
  /** No further runs; resolves when the run under way, if any, has ended. */
  stop(): Promise<void>;
}

export interface RepeatSchedule {
  /** Wait between two runs while they succeed. */
  readonly intervalMs: number;
  /** First wait after a failed run; doubles (with jitter) while runs keep failing. */
  readonly minRetryMs: number;
  /** Longest wait between runs while failing (default intervalMs). */
  readonly maxRetryMs?: number;
  /** The first run at once (true) or after intervalMs (false). */
  readonly runAtOnce: boolean;
}

/** Runs background work on time; injected so that domain tests decide when time passes. */
export interface SchedulerPort {
  /** Starts `run` (never overlapping itself): it resolves to true when it succeeded, false to retry sooner. */
  every(run: () => Promise<boolean>, schedule: RepeatSchedule): RepeatingTask;
}
