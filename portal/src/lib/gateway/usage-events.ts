import type { UsageSnapshot } from './ledger';

/** Where usage events go (the lead wires it to the event hub: the interview's SSE stream and the candidate's). */
export interface UsageSink {
  usage(snapshot: UsageSnapshot): void;
}

const MIN_GAP_MS = 250;

/**
 * Publishes an interview's meter after each change, at most every 250 ms per interview (the
 * last change always gets out: a trailing timer). Snapshots are computed in memory — no database
 * read per event.
 */
export class UsageEvents {
  private last = new Map<string, number>();
  private timers = new Map<string, NodeJS.Timeout>();

  constructor(
    private readonly deps: {
      sink?: UsageSink;
      snapshot: (interviewId: string) => UsageSnapshot | null;
      now: () => number;
    },
  ) {}

  changed(interviewId: string): void {
    if (!this.deps.sink || this.timers.has(interviewId)) return;
    const wait = (this.last.get(interviewId) ?? 0) + MIN_GAP_MS - this.deps.now();
    if (wait <= 0) this.emit(interviewId);
    else {
      const t = setTimeout(() => {
        this.timers.delete(interviewId);
        this.emit(interviewId);
      }, wait);
      t.unref();
      this.timers.set(interviewId, t);
    }
  }

  /** Publishes a fresh snapshot now (interviewer actions: extend, end). */
  publish(snapshot: UsageSnapshot): void {
    const t = this.timers.get(snapshot.interviewId);
    if (t) clearTimeout(t);
    this.timers.delete(snapshot.interviewId);
    this.last.set(snapshot.interviewId, this.deps.now());
    this.send(snapshot);
  }

  close(): void {
    for (const t of this.timers.values()) clearTimeout(t);
    this.timers.clear();
  }

  private emit(interviewId: string): void {
    this.last.set(interviewId, this.deps.now());
    const s = this.deps.snapshot(interviewId);
    if (s) this.send(s);
  }

  private send(s: UsageSnapshot): void {
    try {
      this.deps.sink?.usage(s);
    } catch {
      // A broken subscriber must not break the request that changed the meter.
    }
  }
}
