import type { EventPublisher } from '../events/publisher';
import { LogSeqConflictError, type OperationLogStore } from '../store/operation-logs';
import type { OperationEvent } from '../store/types';
import type { Clock } from './clock';

export type LogInput = Omit<OperationEvent, 'seq' | 'ts'>;

export interface LogWriterDeps {
  store: OperationLogStore;
  publisher: EventPublisher;
  operationId: string;
  /** The last seq already stored; the first emitted entry gets `afterSeq + 1`. */
  afterSeq: number;
  clock: Clock;
  /** Flush this long after the first unflushed emit. The contract is "stored ≤ 250 ms after emit". */
  flushAfterMs?: number;
  /** Entries per stored batch item (a flush may write several). */
  maxBatch?: number;
  /**
   * Asked before every write: false means we may no longer be the operation's single writer
   * (our lease is about to end), so the writer stops and drops what it holds.
   */
  canWrite?: () => boolean;
  /** Called once if the writer stops because it is no longer the single writer. */
  onLost?: (reason: string) => void;
  /** Transient write errors (the batch is kept and retried). */
  onError?: (e: unknown) => void;
}

const MAX_MESSAGE = 4000;
const MAX_BATCH_BYTES = 64 * 1024;
const RETRY_MS = 200;

/**
 * The single writer of one operation's log (the lease holder). It assigns gap-free, monotonic
 * seqs at `emit`, batches entries, stores each batch with a conditional put, and only after
 * that write succeeded hands the batch to the publisher (I7: stored before pushed).
 *
 * Batches are written one at a time, in order, so a reader never sees seq n+1 before n.
 */
export class LogWriter {
  private seq: number;
  private stored: number;
  private pending: OperationEvent[] = [];
  private timer: NodeJS.Timeout | undefined;
  private chain: Promise<void> = Promise.resolve();
  private stopped: string | undefined;
  private canWrite: () => boolean;
  /** Set after a write with an unknown outcome: the retry must use the same batch. */
  private retryLength: number | undefined;

  constructor(private readonly deps: LogWriterDeps) {
    this.seq = deps.afterSeq;
    this.stored = deps.afterSeq;
    this.canWrite = deps.canWrite ?? (() => true);
  }

  /** Opens the writer after the last stored seq (a resumed operation continues its log). */
  static async resume(deps: Omit<LogWriterDeps, 'afterSeq'>): Promise<LogWriter> {
    return new LogWriter({ ...deps, afterSeq: await deps.store.lastSeq(deps.operationId) });
  }

  /** The last seq assigned. */
  get lastSeq(): number {
    return this.seq;
  }

  /** The last seq known stored. */
  get storedSeq(): number {
    return this.stored;
  }

  /** Why the writer stopped, if it did. */
  get stoppedReason(): string | undefined {
    return this.stopped;
  }

  /** Replaces the write guard (e.g. once the operation is terminal, nobody else can write). */
  setCanWrite(fn: () => boolean): void {
    this.canWrite = fn;
  }

  /** Assigns the next seq and queues the entry; null once the writer has stopped. */
  emit(input: LogInput): OperationEvent | null {
    if (this.stopped) return null;
    const entry: OperationEvent = {
      ...input,
      ...(input.message !== undefined && { message: input.message.slice(0, MAX_MESSAGE) }),
      seq: ++this.seq,
      ts: this.deps.clock.now(),
    };
    this.pending.push(entry);
    if (this.pending.length >= (this.deps.maxBatch ?? 50)) void this.flush();
    else this.arm(this.deps.flushAfterMs ?? 100);
    return entry;
  }

  /** Writes everything emitted so far; true when all of it is stored. */
  flush(): Promise<boolean> {
    this.disarm();
    this.chain = this.chain.then(() => this.writePending());
    return this.chain.then(() => !this.stopped && this.stored === this.seq);
  }

  /** Flushes (retrying transient errors a few times) and stops; later emits are dropped. */
  async close(): Promise<boolean> {
    let ok = await this.flush();
    for (let i = 0; !ok && !this.stopped && i < 5; i++) {
      await new Promise((r) => setTimeout(r, RETRY_MS));
      ok = await this.flush();
    }
    this.stop('closed', false);
    return ok;
  }

  /** Drops everything not yet stored and stops (the lease is lost). */
  discard(reason = 'discarded'): void {
    this.stop(reason, false);
  }

  /** Never throws: a failure keeps the batch for a retry (or stops the writer). */
  private async writePending(): Promise<void> {
    while (this.pending.length > 0 && !this.stopped) {
      if (!this.canWrite()) return this.stop('lease not held', true);
      const batch = this.nextBatch();
      try {
        await this.deps.store.append(this.deps.operationId, batch, this.deps.clock.now());
      } catch (e) {
        let ours: boolean;
        try {
          if (!(e instanceof LogSeqConflictError)) throw e;
          ours = await this.isOurs(batch);
        } catch (err) {
          // Unknown outcome: retry the same batch (same boundaries, so the same key); a retry
          // that finds the key taken checks whether the stored entries are ours.
          this.retryLength = batch.length;
          this.deps.onError?.(err);
          this.arm(RETRY_MS);
          return;
        }
        if (!ours) return this.stop('another writer owns the log', true);
      }
      this.retryLength = undefined;
      this.pending.splice(0, batch.length);
      this.stored = batch.at(-1)!.seq;
      try {
        this.deps.publisher.operationEvents(this.deps.operationId, batch);
      } catch (e) {
        this.deps.onError?.(e);
      }
    }
  }

  /** After a conflict: did an earlier attempt of ours (a lost response) store this batch? */
  private async isOurs(batch: OperationEvent[]): Promise<boolean> {
    const stored = await this.deps.store.readAfter(
      this.deps.operationId,
      batch[0]!.seq - 1,
      batch.length,
    );
    return (
      stored.length === batch.length &&
      stored.every((s, i) => {
        const b = batch[i]!;
        return s.seq === b.seq && s.ts === b.ts && s.kind === b.kind && s.message === b.message;
      })
    );
  }

  private nextBatch(): OperationEvent[] {
    if (this.retryLength !== undefined) return this.pending.slice(0, this.retryLength);
    const max = this.deps.maxBatch ?? 50;
    let bytes = 0;
    let n = 0;
    while (n < this.pending.length && n < max) {
      bytes += JSON.stringify(this.pending[n]).length;
      if (n > 0 && bytes > MAX_BATCH_BYTES) break;
      n++;
    }
    return this.pending.slice(0, n);
  }

  private stop(reason: string, lost: boolean): void {
    if (this.stopped) return;
    this.stopped = reason;
    this.pending = [];
    this.disarm();
    if (lost) this.deps.onLost?.(reason);
  }

  private arm(ms: number): void {
    if (this.timer || this.stopped) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.flush();
    }, ms);
  }

  private disarm(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }
}
