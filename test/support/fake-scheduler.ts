import type { RepeatingTask, RepeatSchedule, SchedulerPort } from '../../src/ports/scheduler.port';
import type { FakeClock } from './fakes';

/** Lets the microtasks and promise callbacks queued so far run (a fake run's awaits included). */
const settle = () => new Promise<void>((resolve) => setImmediate(resolve));

/**
 * The scheduler's rules (interval while succeeding, doubling retry from minRetryMs up to maxRetryMs while failing,
 * poke, never overlapping itself) on a FakeClock, without the jitter: time passes only in advance(), and runs that
 * await something the test holds stay under way, as they would with timers.
 */
export class FakeScheduler implements SchedulerPort {
  readonly tasks: FakeRepeatingTask[] = [];

  constructor(private readonly clock: FakeClock) {}

  every(run: () => Promise<boolean>, schedule: RepeatSchedule): FakeRepeatingTask {
    const task = new FakeRepeatingTask(run, schedule, this.clock);
    this.tasks.push(task);
    return task;
  }

  /** Moves the clock forward by ms, starting every run that falls due on the way, in time order (then in order of creation). */
  async advance(ms: number): Promise<void> {
    const end = this.clock.now() + ms;
    for (;;) {
      await settle();
      const due = this.tasks.filter((t) => t.dueAt !== undefined && t.dueAt <= end).sort((a, b) => (a.dueAt as number) - (b.dueAt as number))[0];
      if (!due) break;
      this.clock.t = Math.max(this.clock.t, due.dueAt as number);
      due.start();
    }
    this.clock.t = end;
  }
}

export class FakeRepeatingTask implements RepeatingTask {
  /** When the next run starts; undefined while one is under way or after stop(). */
  dueAt: number | undefined;
  runs = 0;
  private failures = 0;
  private running: Promise<void> | undefined;
  private stopped = false;

  constructor(
    private readonly run: () => Promise<boolean>,
    readonly schedule: RepeatSchedule,
    private readonly clock: FakeClock,
  ) {
    this.dueAt = clock.now() + (schedule.runAtOnce ? 0 : schedule.intervalMs);
  }

  poke(): void {
    if (this.stopped || this.running) return;
    this.dueAt = this.clock.now();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.dueAt = undefined;
    await this.running;
  }

  start(): void {
    this.dueAt = undefined;
    this.runs++;
    this.running = this.run()
      .catch(() => false)
      .then((ok) => {
        this.running = undefined;
        if (this.stopped) return;
        this.failures = ok ? 0 : this.failures + 1;
        const { intervalMs, minRetryMs, maxRetryMs = intervalMs } = this.schedule;
        const retryMs = Math.min(intervalMs, maxRetryMs, minRetryMs * 2 ** Math.min(this.failures - 1, 10));
        this.dueAt = this.clock.now() + (ok ? intervalMs : retryMs);
      });
  }
}
