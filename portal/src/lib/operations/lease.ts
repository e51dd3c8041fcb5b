import type { OperationStore } from '../store/operations';
import type { Clock } from './clock';

export interface LeaseDeps {
  store: OperationStore;
  clock: Clock;
  leaseMs: number;
  /** The claimed record's identity: every renew is conditioned on owner + version. */
  id: string;
  owner: string;
  version: number;
  leaseUntil: number;
  /** The lease is gone (taken over, or not renewable in time): stop all work and writes. */
  onLost(reason: string): void;
  /** A heartbeat saw `cancelRequested` on the operation. */
  onCancelRequested(): void;
  onError?(e: unknown): void;
}

/**
 * The heartbeat of one claimed operation: renews the lease every `leaseMs / 3`, so a healthy
 * holder always has about two thirds of a lease ahead of it.
 *
 * Clock skew: `leaseUntil` is written with this process's clock and compared by other processes
 * with theirs. `held()` stops answering true `leaseMs / 10` before the lease ends, so as long as
 * clocks agree to within that margin (NTP does far better) a new owner can only claim after
 * this holder has stopped writing.
 */
export class Lease {
  private timer: NodeJS.Timeout | undefined;
  private until: number;
  private lost = false;
  private beating = false;
  private cancelSeen = false;

  constructor(private readonly deps: LeaseDeps) {
    this.until = deps.leaseUntil;
  }

  get leaseUntil(): number {
    return this.until;
  }

  start(): void {
    const every = Math.max(50, Math.floor(this.deps.leaseMs / 3));
    this.timer = setInterval(() => void this.beat(), every);
  }

  close(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  /** Whether this holder may still write (lease valid, with the skew margin to spare). */
  held(now = this.deps.clock.now()): boolean {
    return !this.lost && now < this.until - this.deps.leaseMs / 10;
  }

  /** One renewal. Cheap and idempotent; overlapping calls are skipped. */
  async beat(): Promise<void> {
    if (this.lost || this.beating) return;
    this.beating = true;
    try {
      const now = this.deps.clock.now();
      const r = await this.deps.store.renew(this.deps.id, {
        owner: this.deps.owner,
        version: this.deps.version,
        leaseUntil: now + this.deps.leaseMs,
      });
      if (!r) return this.lose('lease taken over by another runner');
      this.until = now + this.deps.leaseMs;
      if (r.cancelRequested && !this.cancelSeen) {
        this.cancelSeen = true;
        this.deps.onCancelRequested();
      }
    } catch (e) {
      this.deps.onError?.(e);
      if (!this.held()) this.lose('lease could not be renewed in time');
    } finally {
      this.beating = false;
    }
  }

  private lose(reason: string): void {
    if (this.lost) return;
    this.lost = true;
    this.close();
    this.deps.onLost(reason);
  }
}
