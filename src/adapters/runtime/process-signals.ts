/**
 * Every signal the plugin receives gets a listener the moment this module is
 * loaded, which main.ts does before anything else:
 *  - SIGUSR1 would open Node's inspector on 127.0.0.1:9229 (any local process
 *    could then run code in the plugin and read the Vault token). A JavaScript
 *    listener replaces Node's own handler, so the signal is ignored instead.
 *  - SIGTERM/SIGINT arriving while the plugin is still starting would kill it
 *    with the default action and leave the socket behind; they are remembered
 *    and honoured as soon as start-up is done; a second one exits at once.
 *  - SIGHUP and SIGUSR2 kill by default; they are routed to the handler the
 *    plugin's composition root sets (BackgroundChecks.signal: re-read the
 *    credential file and log in; rotate the dev key), or logged and ignored.
 */
export type StopSignal = 'SIGTERM' | 'SIGINT';
export type ControlSignal = 'SIGHUP' | 'SIGUSR1' | 'SIGUSR2';

type ControlHandler = (signal: ControlSignal) => void;

class ProcessSignals {
  private stopSignal: StopSignal | undefined;
  private onStop: ((s: StopSignal) => void) | undefined;
  private onControl: ControlHandler | undefined;
  /** Control signals that arrived before the plugin had a handler (and a logger). */
  private readonly early: ControlSignal[] = [];

  constructor() {
    for (const s of ['SIGTERM', 'SIGINT'] as const) process.on(s, () => this.stop(s));
    for (const s of ['SIGHUP', 'SIGUSR1', 'SIGUSR2'] as const) process.on(s, () => this.control(s));
  }

  /** Resolves with the first SIGTERM/SIGINT, including one received before this call. */
  stopped(): Promise<StopSignal> {
    return new Promise((resolve) => {
      if (this.stopSignal) resolve(this.stopSignal);
      else this.onStop = resolve;
    });
  }

  /** Where SIGHUP/SIGUSR1/SIGUSR2 go from now on; replays any that arrived earlier. */
  handleControl(handler: ControlHandler): void {
    this.onControl = handler;
    for (const s of this.early.splice(0)) handler(s);
  }

  private stop(s: StopSignal): void {
    // A second stop signal while the first is still being honoured: the operator insists.
    if (this.stopSignal) process.exit(1);
    this.stopSignal = s;
    this.onStop?.(s);
  }

  private control(s: ControlSignal): void {
    if (this.onControl) this.onControl(s);
    else if (this.early.length < 8) this.early.push(s);
  }
}

export const processSignals = new ProcessSignals();
