import type { OperationStore } from '../store/operations';
import type { OperationRecord } from '../store/types';

const QUEUED = new Set(['pending', 'scheduled']);

/**
 * What the scheduler knows about upcoming work: the last scan of the due, expired-lease and
 * deadline indexes (looking `lookaheadMs` ahead), plus operations it learned about since
 * (created in this process, retries). Only a hint: every claim is a conditional write, so a
 * stale entry costs one refused write, and the next scan replaces everything.
 */
export class WorkCache {
  private queued = new Map<string, OperationRecord>();
  private expired = new Map<string, OperationRecord>();
  private deadlines = new Map<string, OperationRecord>();
  /** Every queued operation due at or before this existed in the last scan's result. */
  private queuedHorizon = -Infinity;
  private deadlineHorizon = -Infinity;
  private scanning = false;
  /** Learned while a scan was in flight: merged into its result. */
  private addedDuringScan: OperationRecord[] = [];

  constructor(private readonly opts: { lookaheadMs: number; scanLimit: number }) {}

  /** Replaces the cache with what the indexes hold now. */
  async scan(store: OperationStore, now: number): Promise<void> {
    const { lookaheadMs, scanLimit: limit } = this.opts;
    this.scanning = true;
    try {
      const [due, expired, deadlines] = await Promise.all([
        store.queryDue(now + lookaheadMs, { now, limit }),
        store.queryExpiredLeases(now, limit),
        store.queryDeadlines(now + lookaheadMs, { now, limit }),
      ]);
      this.queued = new Map(due.items.map((o) => [o.id, o]));
      // A truncated scan holds the earliest items: it knows everything up to its last one.
      this.queuedHorizon = due.truncated
        ? (due.items.at(-1)?.scheduledAt ?? now)
        : now + lookaheadMs;
      this.expired = new Map(expired.items.map((o) => [o.id, o]));
      this.deadlines = new Map(deadlines.items.map((o) => [o.id, o]));
      this.deadlineHorizon = deadlines.truncated
        ? (deadlines.items.at(-1)?.autoDestroyAt ?? now)
        : now + lookaheadMs;
    } finally {
      this.scanning = false;
      const added = this.addedDuringScan;
      this.addedDuringScan = [];
      for (const op of added) this.remember(op);
    }
  }

  /** Adds an operation learned outside a scan, if it falls within what the cache covers. */
  remember(op: OperationRecord): void {
    if (this.scanning) this.addedDuringScan.push(op);
    if (QUEUED.has(op.status) && op.scheduledAt <= this.queuedHorizon) this.queued.set(op.id, op);
    if (
      op.type === 'create' &&
      op.autoDestroyAt !== undefined &&
      op.autoDestroyAt <= this.deadlineHorizon
    ) {
      this.deadlines.set(op.id, op);
    }
  }

  /** The operation is being claimed (or reaped): no longer a candidate. */
  forget(id: string): void {
    this.queued.delete(id);
    this.expired.delete(id);
  }

  forgetDeadline(createOperationId: string): void {
    this.deadlines.delete(createOperationId);
  }

  /** Claimable now: queued operations that are due, and expired leases. */
  due(now: number): OperationRecord[] {
    const out = [...this.expired.values()];
    for (const op of this.queued.values()) if (op.scheduledAt <= now) out.push(op);
    return out;
  }

  hasDue(now: number): boolean {
    if (this.expired.size > 0) return true;
    for (const op of this.queued.values()) if (op.scheduledAt <= now) return true;
    return false;
  }

  /** Create operations with a deadline (the deadline sweeper decides which have passed). */
  createsWithDeadlines(): Iterable<OperationRecord> {
    return this.deadlines.values();
  }

  /** The earliest due time or deadline after `now`, or Infinity. */
  nextAfter(now: number): number {
    let next = Infinity;
    for (const op of this.queued.values())
      if (op.scheduledAt > now) next = Math.min(next, op.scheduledAt);
    for (const op of this.deadlines.values()) {
      if (op.autoDestroyAt !== undefined && op.autoDestroyAt > now)
        next = Math.min(next, op.autoDestroyAt);
    }
    return next;
  }

  /** A truncated scan's items are used up: what lies beyond it needs a new scan. */
  exhausted(now: number): boolean {
    return Math.min(this.queuedHorizon, this.deadlineHorizon) <= now;
  }
}
