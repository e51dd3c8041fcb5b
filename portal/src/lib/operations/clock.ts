/**
 * Wall-clock time in epoch ms, injected so tests and decision functions can control "now".
 * Leases compare times from different processes: see the skew note in store/operations.ts.
 */
export interface Clock {
  now(): number;
}

export const systemClock: Clock = { now: () => Date.now() };
