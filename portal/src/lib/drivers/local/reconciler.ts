import type { InstanceDriver, InstanceInfo } from '../driver';
import type { InterviewRecord } from '../../store/types';
import { LIVE_INTERVIEW_STATUSES } from '../../store/types';

export interface LiveInterview {
  id: string;
  deadlineAt: number;
}

export interface Stray {
  interviewId: string;
  reason: 'no live interview' | 'past deadline';
}

/**
 * Pure decision: which running instances must go. An instance goes when no live interview owns
 * it, or when its interview's deadline plus the grace has passed (I2). Keep in sync with
 * LIVE_INTERVIEW_STATUSES: an interview in any of those statuses owns its instance.
 */
export function findStrays(
  instances: InstanceInfo[],
  live: LiveInterview[],
  now: number,
  graceMs: number,
): Stray[] {
  const byId = new Map(live.map((i) => [i.id, i]));
  const out: Stray[] = [];
  for (const inst of instances) {
    const owner = byId.get(inst.interviewId);
    if (!owner) out.push({ interviewId: inst.interviewId, reason: 'no live interview' });
    else if (owner.deadlineAt + graceMs < now)
      out.push({ interviewId: inst.interviewId, reason: 'past deadline' });
  }
  return out;
}

export interface ReconcilerDeps {
  driver: Pick<InstanceDriver, 'list' | 'destroy'>;
  /** Every interview in a live status (InterviewStore.listByStatus fits, see liveInterviewsFrom). */
  liveInterviews(): Promise<LiveInterview[]>;
  graceMs: number;
  intervalMs: number;
  log: {
    info(obj: object, msg: string): void;
    warn(obj: object, msg: string): void;
    error(obj: object, msg: string): void;
  };
}

export interface ReconcileStats {
  running: number;
  /** Running instances that a live interview owns (after a restart: the ones adopted). */
  kept: number;
  destroyed: Stray[];
  failed: { interviewId: string; error: string }[];
}

/**
 * Compares the instances the driver can see with live interviews and destroys strays (archive
 * first — the driver's destroy does that), so no instance outlives its interview (I2). Instances
 * of live interviews are left alone: that is how a restarted portal adopts them (the driver reads
 * their state files; the proxy finds their sockets).
 *
 * `start` runs once at once (on portal start, overdue instances go first) and then every
 * `intervalMs`; call it once. `close` stops the timer and waits for a run in progress.
 */
export class Reconciler {
  private timer?: NodeJS.Timeout;
  private running?: Promise<ReconcileStats>;
  private closed = false;

  constructor(private readonly deps: ReconcilerDeps) {}

  start(): void {
    const tick = () => {
      if (this.closed) return;
      void this.run(Date.now())
        .catch((e) => this.deps.log.error({ err: (e as Error).message }, 'reconciler run failed'))
        .finally(() => {
          if (!this.closed) this.timer = setTimeout(tick, this.deps.intervalMs);
        });
    };
    tick();
  }

  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.timer);
    await this.running?.catch(() => {});
  }

  /** One pass; concurrent calls share the pass in progress. */
  run(now: number): Promise<ReconcileStats> {
    this.running ??= this.pass(now).finally(() => (this.running = undefined));
    return this.running;
  }

  private async pass(now: number): Promise<ReconcileStats> {
    const [instances, live] = await Promise.all([
      this.deps.driver.list(),
      this.deps.liveInterviews(),
    ]);
    const strays = findStrays(instances, live, now, this.deps.graceMs);
    const stats: ReconcileStats = {
      running: instances.length,
      kept: instances.length - strays.length,
      destroyed: [],
      failed: [],
    };
    for (const stray of strays) {
      if (this.closed) break;
      try {
        const result = await this.deps.driver.destroy(stray.interviewId, {
          signal: new AbortController().signal,
          log: (level, message) =>
            this.deps.log[level === 'debug' ? 'info' : level](
              { interviewId: stray.interviewId },
              message,
            ),
        });
        stats.destroyed.push(stray);
        this.deps.log.warn(
          { interviewId: stray.interviewId, reason: stray.reason, archive: result.archive },
          'reconciler destroyed a stray instance',
        );
      } catch (e) {
        stats.failed.push({ interviewId: stray.interviewId, error: (e as Error).message });
        this.deps.log.error(
          { interviewId: stray.interviewId, err: (e as Error).message },
          'reconciler could not destroy a stray instance',
        );
      }
    }
    return stats;
  }
}

/** `liveInterviews` from the interviews table (one Query per live status, no Scan). */
export function liveInterviewsFrom(store: {
  listByStatus(status: InterviewRecord['status'], before: number): Promise<InterviewRecord[]>;
}): () => Promise<LiveInterview[]> {
  return async () => {
    const lists = await Promise.all(
      LIVE_INTERVIEW_STATUSES.map((s) => store.listByStatus(s, Number.MAX_SAFE_INTEGER)),
    );
    return lists.flat().map((i) => ({ id: i.id, deadlineAt: i.deadlineAt }));
  };
}
