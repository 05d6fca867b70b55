import type { RepeatingTask, RepeatSchedule, SchedulerPort } from '../../ports/scheduler.port';
import { PeriodicTask } from './periodic-task';

/** The scheduler over Node's timers (unref'd: a pending run never keeps the process alive). */
export const TIMER_SCHEDULER: SchedulerPort = {
  every(run: () => Promise<boolean>, schedule: RepeatSchedule): RepeatingTask {
    const task = new PeriodicTask(run, schedule.intervalMs, schedule.minRetryMs, schedule.maxRetryMs);
    task.start(schedule.runAtOnce);
    return task;
  },
};
