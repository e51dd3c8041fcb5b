import type { LedgerStore } from '../store/ledger';
import type { MessageStore } from '../store/messages';

export interface SweepStats {
  examined: number;
  /** Slices of dead holders whose unused part went back to the budget. */
  returned: number;
  /** Slice items that were never counted (the holder died between its two writes), deleted. */
  discarded: number;
  /** Tokens given back to budgets. */
  tokensReturned: number;
}

/** How long a sweeper owns a claimed slice before another may retry it. */
const SWEEP_CLAIM_MS = 30_000;

/**
 * Returns the slices of dead holders (DESIGN.md: "a sweeper then returns what its stored
 * charges did not use"). Any process may run it; a slice is claimed with a conditional write
 * first, which also stops a stalled-but-alive holder from renewing or charging into it.
 *
 * What a dead holder charged is the larger of the sum of its stored responses (each carries its
 * slice id) and the totals it last persisted on the slice item: a charge is never given back.
 * Requests that were still streaming when the holder died have no stored charge and their
 * reservation returns to the budget.
 */
export class SliceSweeper {
  private timer?: NodeJS.Timeout;
  private running?: Promise<SweepStats>;

  constructor(
    private readonly deps: {
      ledger: LedgerStore;
      messages: MessageStore;
      sweeperId: string;
      now: () => number;
      intervalMs: number;
      /** Leases must have ended at least this long ago (clock skew between processes). */
      skewMs?: number;
      batch?: number;
      log: { info(o: object, m: string): void; warn(o: object, m: string): void };
    },
  ) {}

  start(): void {
    this.timer = setInterval(() => void this.run().catch(() => {}), this.deps.intervalMs);
    this.timer.unref();
  }

  close(): Promise<unknown> {
    if (this.timer) clearInterval(this.timer);
    return this.running ?? Promise.resolve();
  }

  /** One pass over expired slices; `now` can be given by tests (no sleeping for leases). */
  run(now = this.deps.now()): Promise<SweepStats> {
    if (this.running) return this.running;
    this.running = this.pass(now).finally(() => {
      this.running = undefined;
    });
    return this.running;
  }

  private async pass(now: number): Promise<SweepStats> {
    const stats: SweepStats = { examined: 0, returned: 0, discarded: 0, tokensReturned: 0 };
    const { ledger, messages } = this.deps;
    const expired = await ledger.expiredSlices(
      now - (this.deps.skewMs ?? 2000),
      this.deps.batch ?? 50,
    );
    for (const item of expired) {
      stats.examined++;
      try {
        const claimed = await ledger.claimSlice(
          item.interviewId,
          item.sliceId,
          this.deps.sweeperId,
          now,
          now + SWEEP_CLAIM_MS,
        );
        if (!claimed) continue;
        const stored = await messages.chargesForSlice(item.interviewId, item.sliceId);
        const persisted = {
          usedIn: claimed.usedIn,
          usedOut: claimed.usedOut,
          requests: claimed.requests,
          estimated: claimed.estimated,
        };
        let totals =
          stored.usedIn + stored.usedOut >= persisted.usedIn + persisted.usedOut
            ? stored
            : persisted;
        if (totals.usedIn + totals.usedOut > claimed.amount) {
          // Cannot happen (each charge is capped by its reservation); never let it corrupt the ledger.
          const usedIn = Math.min(totals.usedIn, claimed.amount);
          totals = { ...totals, usedIn, usedOut: claimed.amount - usedIn };
        }
        const after = await ledger.release(
          item.interviewId,
          item.sliceId,
          claimed.amount,
          totals,
          now,
        );
        await ledger.deleteSlice(item.interviewId, item.sliceId);
        if (after) {
          stats.returned++;
          stats.tokensReturned += claimed.amount - totals.usedIn - totals.usedOut;
          this.deps.log.info(
            {
              interviewId: item.interviewId,
              sliceId: item.sliceId,
              holder: claimed.holder,
              returned: claimed.amount - totals.usedIn - totals.usedOut,
            },
            'gateway: returned the slice of a dead holder',
          );
        } else {
          stats.discarded++;
        }
      } catch (e) {
        this.deps.log.warn(
          { sliceId: item.sliceId, err: (e as Error).message },
          'gateway: sweeping a slice failed; will retry',
        );
      }
    }
    return stats;
  }
}
