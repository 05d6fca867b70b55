/** Wall-clock milliseconds since the epoch; injected so domain tests control time. */
export interface ClockPort {
  now(): number;
}
