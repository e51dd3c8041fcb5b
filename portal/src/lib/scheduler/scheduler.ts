import type { InstanceDriver } from '../drivers/driver';
import type { EventPublisher } from '../events/publisher';
import { systemClock, type Clock } from '../operations/clock';
import type { OperationsConfig } from '../operations/config';
import type { OperationsEngine } from '../operations/engine';
import type { InterviewHooks } from '../operations/interview-hooks';
import { OperationRunner, type OpsLogger, type RunOutcome } from '../operations/runner';
import type { OperationRecord, OperationType } from '../store/types';
import { dueDeadlines, sweepDeadline } from './deadline-sweeper';
import { pickClaims } from './picker';
import { isExhausted, Reaper } from './reaper';
import { WorkCache } from './work-cache';

export interface SchedulerDeps {
  engine: OperationsEngine;
  driver: InstanceDriver;
  publisher: EventPublisher;
  hooks: InterviewHooks;
  config: OperationsConfig;
  /** Lease owner id of this process; unique per process (and per restart). */
  owner: string;
  clock?: Clock;
  logger?: OpsLogger;
  /** How far ahead a scan looks for due work (default: max(2 × poll, 2 s)). */
  lookaheadMs?: number;
  /**
   * Most items one scan keeps per query (default 256). A truncated scan is repeated as soon as
   * its items are claimed, so this bounds the cost of a scan, not the work found.
   */
  scanLimit?: number;
}

/** What one tick did (also the scheduler's part of /api/health). */
export interface TickStats {
  at: number;
  durationMs: number;
  /** Whether this tick queried the indexes (otherwise it worked from the last scan). */
  scanned: boolean;
  deadlinesDue: number;
  destroysEnqueued: number;
  /** How late the most overdue deadline seen this tick was (0 when none). */
  oldestOverdueMs: number;
  reaped: number;
  /** Claimable operations seen (due queued ones and expired leases). */
  due: number;
  claimed: number;
  claimedByType: Record<OperationType, number>;
  /** Claims refused: another process got there first, or the operation changed. */
  lostRaces: number;
  started: number;
  /** Due but not claimed: no free slot (SCHEDULER_CONCURRENCY). */
  backlog: number;
  running: number;
  nextWakeAt: number;
  errors: number;
}

export interface SchedulerHealth {
  owner: string;
  started: boolean;
  closing: boolean;
  running: number;
  lastTick?: TickStats;
  lastError?: { at: number; message: string };
  totals: Record<RunOutcome | 'claimed' | 'lostRaces' | 'reaped' | 'destroysEnqueued', number>;
}

interface Running {
  runner: OperationRunner;
  done: Promise<void>;
}

const QUEUED = new Set(['pending', 'scheduled']);
const silentLogger: OpsLogger = { debug() {}, info() {}, warn() {}, error() {} };

/**
 * Runs due operations exactly once across any number of processes (I1) and enforces deadlines
 * (I2). Start it once per process.
 *
 * How it finds work without hammering the store: a scan (the due, expired-lease and deadline
 * indexes) every SCHEDULER_POLL_MS looks `lookaheadMs` ahead and keeps what it found in memory;
 * between scans the scheduler sleeps until the earliest due time it knows (not a fixed tick), so
 * due → running is a timer plus one conditional write. Operations created in this process reach
 * it through `wake()`; those created elsewhere are seen by the next scan (≤ poll), normally long
 * before they are due, because creates are due PROVISION_LEAD_SECONDS before their start.
 * The cache is only a hint: every claim is a conditional write, so a stale entry costs one
 * refused write.
 *
 * Each tick: claim the due work (up to SCHEDULER_CONCURRENCY; destroys before creates, and a
 * quarter of the slots only for destroys) while the destroys of passed deadlines are enqueued
 * and claimed as they appear; operations out of attempts go to the reaper. On start, every
 * overdue deadline is swept before anything is claimed (I2). A wake-up that arrives while a
 * tick is busy claims what is due at once rather than waiting for the tick.
 */
export class Scheduler {
  private readonly clock: Clock;
  private readonly logger: OpsLogger;
  private readonly reaper: Reaper;
  private readonly scanLimit: number;
  private readonly cache: WorkCache;
  private readonly running = new Map<string, Running>();
  /** Picked and being claimed: their slots are taken. */
  private readonly claiming = new Map<string, OperationType>();
  private nextScanAt = 0;

  private timer: NodeJS.Timeout | undefined;
  private timerAt = Infinity;
  private ticking: Promise<void> | undefined;
  private again = false;
  private startCalled = false;
  private startedFlag = false;
  private closing = false;
  private closed: Promise<void> | undefined;
  private unsubscribe: (() => void)[] = [];
  private last: TickStats | undefined;
  private lastError: { at: number; message: string } | undefined;
  private readonly totals: SchedulerHealth['totals'] = {
    claimed: 0,
    lostRaces: 0,
    reaped: 0,
    destroysEnqueued: 0,
    completed: 0,
    failed: 0,
    cancelled: 0,
    retry: 0,
    released: 0,
    'lease-lost': 0,
  };

  constructor(private readonly deps: SchedulerDeps) {
    this.clock = deps.clock ?? systemClock;
    this.logger = deps.logger ?? silentLogger;
    this.scanLimit = deps.scanLimit ?? 256;
    this.cache = new WorkCache({
      lookaheadMs: deps.lookaheadMs ?? Math.max(2 * deps.config.SCHEDULER_POLL_MS, 2000),
      scanLimit: this.scanLimit,
    });
    this.reaper = new Reaper({
      ops: deps.engine.ops,
      logs: deps.engine.logStore,
      publisher: deps.publisher,
      hooks: deps.hooks,
      catalog: deps.engine.catalog,
      config: deps.config,
      clock: this.clock,
      logger: this.logger,
      owner: deps.owner,
    });
  }

  get owner(): string {
    return this.deps.owner;
  }

  /** The last tick's stats (null before the first): /api/health checks it is recent. */
  lastTick(): TickStats | null {
    return this.last ?? null;
  }

  health(): SchedulerHealth {
    return {
      owner: this.deps.owner,
      started: this.startedFlag,
      closing: this.closing,
      running: this.running.size,
      ...(this.last && { lastTick: this.last }),
      ...(this.lastError && { lastError: this.lastError }),
      totals: { ...this.totals },
    };
  }

  /**
   * Starts the loop. Overdue deadlines are swept FIRST (every passed deadline gets its destroy
   * before anything else is claimed, I2), then the first tick runs, claiming destroys before
   * creates. Returns that first tick's stats. Call once.
   */
  async start(): Promise<TickStats> {
    if (this.startCalled) throw new Error('Scheduler.start called twice');
    this.startCalled = true;
    this.unsubscribe.push(
      this.deps.engine.onEnqueued((op) => this.wake(op)),
      this.deps.engine.onCancelRequested((id) =>
        this.running.get(id)?.runner.abort('cancelled', 'cancel requested'),
      ),
    );
    await this.sweepOverdue(this.clock.now());
    // Only now does the loop run (wake() is ignored until here; the first scan sees everything).
    this.startedFlag = true;
    let first: TickStats | undefined;
    this.ticking = this.tick()
      .then((s) => {
        first = s;
      })
      .finally(() => {
        this.ticking = undefined;
        if (this.again) this.loop();
      });
    await this.ticking;
    return first ?? this.emptyStats(this.clock.now());
  }

  /**
   * Stops claiming, lets running operations finish for up to `timeoutMs` (default LEASE_MS),
   * then aborts the rest: each is released back to the queue by its runner, with a log entry
   * saying so (nothing is released silently).
   */
  close(timeoutMs = this.deps.config.LEASE_MS): Promise<void> {
    this.closed ??= this.doClose(timeoutMs);
    return this.closed;
  }

  /** Resolves when the operations running now have settled (tests, benchmarks). */
  async idle(): Promise<void> {
    while (this.running.size > 0) {
      await Promise.allSettled([...this.running.values()].map((r) => r.done));
    }
  }

  /**
   * New work may be due: with the operation (created in this process) it is added to the cache;
   * without, the next tick rescans. Either way a tick runs at once (or at the op's due time).
   */
  wake(op?: OperationRecord): void {
    if (!this.startedFlag || this.closing) return;
    const now = this.clock.now();
    if (!op) {
      this.nextScanAt = 0;
      this.schedule(now);
      return;
    }
    this.cache.remember(op);
    if (QUEUED.has(op.status)) this.schedule(Math.max(now, op.scheduledAt));
    if (op.autoDestroyAt !== undefined) this.schedule(Math.max(now, op.autoDestroyAt));
  }

  /** One tick at `now`. Exposed for tests; the loop calls it with the clock's time. */
  async run(now: number): Promise<TickStats> {
    const t0 = this.clock.now();
    // The tick's `now` moved forward by the real time spent, for claims made late in the tick.
    const later = () => now + (this.clock.now() - t0);
    const stats = this.emptyStats(now);
    if (this.closing) return stats;

    if (now >= this.nextScanAt) {
      await this.cache.scan(this.deps.engine.ops, now);
      this.nextScanAt = now + this.deps.config.SCHEDULER_POLL_MS;
      stats.scanned = true;
    }

    // Passed deadlines get their destroy (two writes each) while the work already due is being
    // claimed, so a slow sweep never delays a due create; each new destroy is claimed as soon
    // as it exists. (On start, Scheduler.start sweeps everything overdue first, and dispatch
    // claims destroys before creates.)
    const actions = dueDeadlines(this.cache.createsWithDeadlines(), now);
    stats.deadlinesDue = actions.length;
    stats.oldestOverdueMs = actions.length ? now - actions[0]!.autoDestroyAt : 0;
    await Promise.all([
      this.dispatch(now, stats, later),
      eachLimit(actions, 16, async (a) => {
        try {
          const r = await sweepDeadline(this.deps.engine, a, later());
          this.cache.forgetDeadline(a.createOperationId);
          if (r.created) stats.destroysEnqueued++;
          // A destroy created here already reached the cache through engine.onEnqueued (and may
          // be claimed by now: remembering it again would cost a refused claim).
          if (!r.created || !this.startedFlag) this.cache.remember(r.destroy);
        } catch (err) {
          stats.errors++;
          this.noteError(err, 'deadline sweep failed');
          return;
        }
        await this.dispatch(later(), stats, later);
      }),
    ]);

    if (this.cache.exhausted(now) && stats.backlog === 0) {
      this.nextScanAt = Math.min(this.nextScanAt, now); // a truncated scan ran out: rescan
    }
    stats.running = this.running.size;
    stats.nextWakeAt = Math.min(this.nextScanAt, this.cache.nextAfter(now));
    stats.durationMs = this.clock.now() - t0;
    this.totals.destroysEnqueued += stats.destroysEnqueued;
    this.last = stats;
    return stats;
  }

  // --- internals -------------------------------------------------------------------------

  /**
   * Claims cached due work into the free slots: reaps what has no attempts left, then claims
   * destroys before creates, earliest first. Selection is synchronous (slots are reserved and
   * entries leave the cache before any await), so concurrent dispatches never pick one
   * operation twice.
   */
  private async dispatch(now: number, stats: TickStats, later: () => number): Promise<void> {
    if (this.closing) return;
    const { catalog } = this.deps.engine;
    const claimable: OperationRecord[] = [];
    const exhausted: OperationRecord[] = [];
    for (const op of this.cache.due(now)) {
      if (this.running.has(op.id) || this.claiming.has(op.id)) continue;
      (isExhausted(op, catalog, this.deps.config) ? exhausted : claimable).push(op);
    }
    for (const op of exhausted) this.cache.forget(op.id);
    const { picked, backlog } = pickClaims({
      candidates: claimable,
      busy: [...[...this.running.values()].map((r) => r.runner.op.type), ...this.claiming.values()],
      concurrency: this.deps.config.SCHEDULER_CONCURRENCY,
      catalog,
      owner: this.deps.owner,
    });
    for (const op of picked) {
      this.cache.forget(op.id);
      this.claiming.set(op.id, op.type);
    }
    stats.due = Math.max(stats.due, claimable.length);
    stats.backlog = backlog;

    const reaping = eachLimit(exhausted, 8, async (op) => {
      try {
        if (await this.reaper.reap(op, later())) {
          stats.reaped++;
          this.totals.reaped++;
        }
      } catch (err) {
        stats.errors++;
        this.noteError(err, 'reap failed');
      }
    });
    // Priority groups in order: every destroy is claimed (running) before any create.
    for (const group of groupBy(picked, (op) => catalog[op.type].priority)) {
      await Promise.all(group.map((op) => this.claim(op, later(), stats)));
    }
    await reaping;
  }

  /** Claims one picked operation (its slot is reserved in `claiming`) and starts its runner. */
  private async claim(op: OperationRecord, now: number, stats: TickStats): Promise<void> {
    const kind = this.deps.engine.catalog[op.type];
    try {
      if (this.closing) return;
      const rec = await this.deps.engine.ops.claim(op.id, {
        owner: this.deps.owner,
        now,
        leaseMs: this.deps.config.LEASE_MS,
        maxAttempts: kind.maxAttempts(this.deps.config),
      });
      if (!rec) {
        stats.lostRaces++;
        this.totals.lostRaces++;
        return;
      }
      stats.claimed++;
      stats.claimedByType[rec.type]++;
      this.totals.claimed++;
      this.startRunner(rec);
      stats.started++;
    } catch (err) {
      stats.errors++;
      this.noteError(err, 'claim failed');
    } finally {
      this.claiming.delete(op.id);
    }
  }

  private startRunner(op: OperationRecord): void {
    const { deps } = this;
    const runner = new OperationRunner(
      {
        ops: deps.engine.ops,
        logs: deps.engine.logStore,
        publisher: deps.publisher,
        driver: deps.driver,
        hooks: deps.hooks,
        control: deps.engine,
        catalog: deps.engine.catalog,
        config: deps.config,
        clock: this.clock,
        logger: this.logger,
        owner: deps.owner,
      },
      op,
    );
    const done = runner
      .run()
      .catch((err: unknown): RunOutcome => {
        this.noteError(err, 'runner failed');
        return 'lease-lost';
      })
      .then((outcome) => {
        this.running.delete(op.id);
        this.totals[outcome]++;
        if (outcome === 'retry') this.cache.remember(runner.record);
        if (this.closing) return;
        const now = this.clock.now();
        if (outcome === 'retry') this.schedule(runner.record.scheduledAt);
        if (this.cache.hasDue(now)) this.schedule(now);
      });
    this.running.set(op.id, { runner, done });
  }

  /** Every passed deadline gets its destroy (paging until none is left), before any claim. */
  private async sweepOverdue(now: number): Promise<void> {
    for (let round = 0; round < 100; round++) {
      const page = await this.deps.engine.ops.queryDeadlines(now, { now, limit: this.scanLimit });
      await eachLimit(dueDeadlines(page.items, now), 16, async (a) => {
        const r = await sweepDeadline(this.deps.engine, a, now);
        if (r.created) this.totals.destroysEnqueued++;
      });
      if (!page.truncated) return;
    }
  }

  private schedule(at: number): void {
    if (!this.startedFlag || this.closing) return;
    if (this.timer && at >= this.timerAt) return;
    if (this.timer) clearTimeout(this.timer);
    this.timerAt = at;
    this.timer = setTimeout(
      () => {
        this.timer = undefined;
        this.timerAt = Infinity;
        this.loop();
      },
      Math.max(0, at - this.clock.now()),
    );
  }

  private loop(): void {
    if (this.ticking) {
      // A tick is busy (scan or sweep): claim what is due now instead of waiting for it.
      this.again = true;
      const now = this.clock.now();
      void this.dispatch(now, this.emptyStats(now), () => this.clock.now());
      return;
    }
    this.ticking = (async () => {
      do {
        this.again = false;
        await this.tick();
      } while (this.again && !this.closing);
    })().finally(() => {
      this.ticking = undefined;
    });
  }

  /** One run at the clock's now, then the timer for the next. Never throws. */
  private async tick(): Promise<TickStats | undefined> {
    try {
      const stats = await this.run(this.clock.now());
      this.schedule(stats.nextWakeAt);
      return stats;
    } catch (err) {
      this.noteError(err, 'tick failed');
      this.schedule(this.clock.now() + this.deps.config.SCHEDULER_POLL_MS);
      return undefined;
    }
  }

  private async doClose(timeoutMs: number): Promise<void> {
    this.closing = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    for (const u of this.unsubscribe) u();
    this.unsubscribe = [];
    await this.ticking;
    const all = () => Promise.allSettled([...this.running.values()].map((r) => r.done));
    let timer: NodeJS.Timeout | undefined;
    const timedOut = await Promise.race([
      all().then(() => false),
      new Promise<boolean>((r) => (timer = setTimeout(() => r(true), timeoutMs))),
    ]);
    clearTimeout(timer);
    if (timedOut) {
      for (const [id, r] of this.running) {
        this.logger.info({ operationId: id }, 'releasing operation: scheduler shutting down');
        r.runner.abort('shutdown', `released: scheduler ${this.deps.owner} shutting down`);
      }
      await all();
    }
  }

  private noteError(err: unknown, msg: string): void {
    this.lastError = {
      at: this.clock.now(),
      message: err instanceof Error ? err.message : String(err),
    };
    this.logger.error({ err }, msg);
  }

  private emptyStats(now: number): TickStats {
    return {
      at: now,
      durationMs: 0,
      scanned: false,
      deadlinesDue: 0,
      destroysEnqueued: 0,
      oldestOverdueMs: 0,
      reaped: 0,
      due: 0,
      claimed: 0,
      claimedByType: { create: 0, destroy: 0 },
      lostRaces: 0,
      started: 0,
      backlog: 0,
      running: this.running.size,
      nextWakeAt: now + this.deps.config.SCHEDULER_POLL_MS,
      errors: 0,
    };
  }
}

function groupBy<T>(items: T[], key: (t: T) => number): T[][] {
  const groups = new Map<number, T[]>();
  for (const t of items) {
    const k = key(t);
    groups.set(k, [...(groups.get(k) ?? []), t]);
  }
  return [...groups.entries()].sort((a, b) => a[0] - b[0]).map(([, g]) => g);
}

async function eachLimit<T>(items: T[], limit: number, fn: (t: T) => Promise<void>): Promise<void> {
  let i = 0;
  const worker = async () => {
    while (i < items.length) await fn(items[i++]!);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}
