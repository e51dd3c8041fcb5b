import { closeSync, openSync, readSync } from 'node:fs';
import { performance } from 'node:perf_hooks';

/**
 * Measures how long the event loop was blocked while `run` executes, with a 1 ms timer chain
 * that records the largest gap between consecutive ticks.
 *
 * - `maxStallMs`: the largest wall-clock gap.
 * - `maxBlockMs`: the largest on-CPU time of the event-loop thread within one gap — the time
 *   this process's own code kept the loop busy. On a 2-core CI box running other test files,
 *   dynalite and the upstream at once, the OS also parks the thread on its run queue; that is
 *   wall time, not blocking, and it is not what "no event-loop stall" is about. Read from
 *   /proc/thread-self/schedstat (ns precision); where that is unavailable, the event-loop
 *   utilization's active time is used instead (which counts run-queue time too).
 */
export async function maxStallDuring<T>(
  run: () => Promise<T>,
): Promise<{ result: T; maxStallMs: number; maxBlockMs: number }> {
  const cpu = threadCpuClock();
  let maxStall = 0;
  let maxBlock = 0;
  let last = performance.now();
  let lastCpu = cpu.now();
  let stop = false;
  const tick = () => {
    if (stop) return;
    const now = performance.now();
    const c = cpu.now();
    maxStall = Math.max(maxStall, now - last - 1);
    maxBlock = Math.max(maxBlock, c - lastCpu);
    last = now;
    lastCpu = c;
    setTimeout(tick, 1);
  };
  setTimeout(tick, 1);
  try {
    const result = await run();
    return { result, maxStallMs: maxStall, maxBlockMs: maxBlock };
  } finally {
    stop = true;
    cpu.close();
  }
}

/** Milliseconds of CPU time used by the calling thread (monotonic). */
function threadCpuClock(): { now(): number; close(): void } {
  try {
    const fd = openSync('/proc/thread-self/schedstat', 'r');
    const buf = Buffer.alloc(128);
    const read = () => {
      const n = readSync(fd, buf, 0, buf.length, 0);
      return Number(buf.toString('latin1', 0, n).split(' ')[0]) / 1e6;
    };
    read();
    return { now: read, close: () => closeSync(fd) };
  } catch {
    return { now: () => performance.eventLoopUtilization().active, close: () => {} };
  }
}
