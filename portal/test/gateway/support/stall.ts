import { performance } from 'node:perf_hooks';

/**
 * Measures how long the event loop was blocked while `run` executes: a 1 ms timer chain
 * records the largest gap between consecutive ticks. `maxStallMs` is the wall-clock gap;
 * `maxBusyMs` counts only the part of each gap the loop spent running code (event-loop
 * utilization), so a gap caused by the OS running other processes on a loaded 2-core CI
 * machine is not blamed on this process's code.
 */
export async function maxStallDuring<T>(run: () => Promise<T>): Promise<{ result: T; maxStallMs: number; maxBusyMs: number }> {
  let maxStall = 0;
  let maxBusy = 0;
  let last = performance.now();
  let lastElu = performance.eventLoopUtilization();
  let stop = false;
  const tick = () => {
    const now = performance.now();
    const elu = performance.eventLoopUtilization();
    const gap = now - last - 1;
    if (gap > maxStall) maxStall = gap;
    const busy = elu.active - lastElu.active;
    if (busy > maxBusy) maxBusy = busy;
    last = now;
    lastElu = elu;
    if (!stop) setTimeout(tick, 1);
  };
  setTimeout(tick, 1);
  try {
    const result = await run();
    return { result, maxStallMs: maxStall, maxBusyMs: maxBusy };
  } finally {
    stop = true;
  }
}
