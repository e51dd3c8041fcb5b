import type { InstanceDriver } from '../drivers/driver';
import type { EventPublisher } from '../events/publisher';
import type { OperationLogStore } from '../store/operation-logs';
import { expiresAtFor, type OperationStore } from '../store/operations';
import type { OperationRecord, OperationStatus } from '../store/types';
import { announce } from './announce';
import type { Catalog } from './catalog';
import type { Clock } from './clock';
import type { OperationsConfig } from './config';
import type { HandlerContext, OperationControl } from './handlers';
import type { InterviewHooks } from './interview-hooks';
import { Lease } from './lease';
import { LogWriter } from './log-writer';
import { decideOutcome, type AbortKind, type Settled } from './outcome';

export interface OpsLogger {
  debug(obj: object, msg?: string): void;
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

export interface RunnerDeps {
  ops: OperationStore;
  logs: OperationLogStore;
  publisher: EventPublisher;
  driver: InstanceDriver;
  hooks: InterviewHooks;
  control: OperationControl;
  catalog: Catalog;
  config: OperationsConfig;
  clock: Clock;
  logger: OpsLogger;
  /** This process's lease owner id (the one that claimed the operation). */
  owner: string;
}

/** How one run ended, from the runner's point of view. */
export type RunOutcome = 'completed' | 'failed' | 'cancelled' | 'retry' | 'released' | 'lease-lost';

class OperationAbort extends Error {
  constructor(
    readonly kind: AbortKind,
    reason: string,
  ) {
    super(reason);
    this.name = 'AbortError';
  }
}

/**
 * Runs one claimed operation to a verdict (I1): a lease heartbeat every LEASE_MS/3, an
 * AbortController fired on cancel, lost lease or shutdown, a log writer that is the log's single
 * writer, the type's handler, and one final write conditioned on owner + version.
 *
 * Order of the final writes:
 * - back to the queue (retry, release): the log (ending with the `pending` status) is flushed
 *   first, while we still hold the lease, because once queued another process may claim the
 *   operation and continue the log;
 * - terminal: the status is committed first, then the `status` and `end` entries are written
 *   (nobody can claim a terminal operation, so we stay the single writer). The log never
 *   announces an end that did not happen.
 */
export class OperationRunner {
  private readonly controller = new AbortController();
  private abortInfo: { kind: AbortKind; reason: string } | undefined;
  private latest: OperationRecord;

  constructor(
    private readonly deps: RunnerDeps,
    readonly op: OperationRecord,
  ) {
    this.latest = op;
  }

  /** The last record this runner stored (after `run`: the requeued or terminal record). */
  get record(): OperationRecord {
    return this.latest;
  }

  get id(): string {
    return this.op.id;
  }

  /** Stops the work (cancel or shutdown). A lost lease is detected by the runner itself. */
  abort(kind: 'cancelled' | 'shutdown', reason: string): void {
    this.fire(kind, reason);
  }

  async run(): Promise<RunOutcome> {
    const { deps, op } = this;
    const kind = deps.catalog[op.type];
    const maxAttempts = kind.maxAttempts(deps.config);
    const lease = new Lease({
      store: deps.ops,
      clock: deps.clock,
      leaseMs: deps.config.LEASE_MS,
      id: op.id,
      owner: deps.owner,
      version: op.version,
      leaseUntil: op.leaseUntil ?? 0,
      onLost: (reason) => this.fire('lease-lost', reason),
      onCancelRequested: () => this.fire('cancelled', 'cancel requested'),
      onError: (err) => deps.logger.warn({ err, operationId: op.id }, 'lease renew failed'),
    });
    lease.start();
    let writer: LogWriter;
    try {
      // Claimed from the queue: the record knows where the log ends. After an expired lease the
      // dead runner may have written more, so ask the log itself.
      const fromQueue = op.claimedFrom === 'pending' || op.claimedFrom === 'scheduled';
      writer = new LogWriter({
        store: deps.logs,
        publisher: deps.publisher,
        operationId: op.id,
        afterSeq: fromQueue ? (op.logSeq ?? 0) : await deps.logs.lastSeq(op.id),
        clock: deps.clock,
        canWrite: () => lease.held(),
        onLost: (reason) => this.fire('lease-lost', `log: ${reason}`),
        onError: (err) => deps.logger.warn({ err, operationId: op.id }, 'log write failed'),
      });
    } catch (err) {
      // Nothing was done yet; the lease expires and the operation is claimed again.
      lease.close();
      deps.logger.error({ err, operationId: op.id }, 'could not open the operation log');
      return 'lease-lost';
    }

    writer.emit({
      kind: 'status',
      status: 'running',
      message: `attempt ${op.attempt} of ${maxAttempts} (${deps.owner})`,
      data: { attempt: op.attempt, owner: deps.owner },
    });
    announce(deps.publisher, op, deps.logger);

    let settled: Settled;
    if (op.cancelRequested) {
      settled = { ok: true, value: { status: 'cancelled', reason: 'cancel requested' } };
    } else {
      const ctx: HandlerContext = {
        op,
        signal: this.controller.signal,
        log: (level, message, data) =>
          writer.emit({ kind: 'log', level, message, ...(data && { data }) }),
        driver: deps.driver,
        hooks: deps.hooks,
        control: deps.control,
        clock: deps.clock,
        leaseMs: deps.config.LEASE_MS,
      };
      try {
        settled = { ok: true, value: await kind.handler(ctx) };
      } catch (error) {
        settled = { ok: false, error };
      }
    }
    lease.close();

    const now = deps.clock.now();
    const verdict = decideOutcome({
      settled,
      ...(this.abortInfo && { abort: this.abortInfo }),
      attempt: op.attempt,
      maxAttempts,
      now,
      backoffMs: kind.backoffMs,
    });
    const ref = { owner: deps.owner, version: op.version };

    if (verdict.kind === 'abandon') {
      writer.discard('lease lost');
      deps.logger.warn(
        { operationId: op.id, reason: verdict.reason },
        'lease lost; work abandoned',
      );
      return 'lease-lost';
    }

    if (verdict.kind === 'requeue') {
      writer.emit({ kind: 'log', level: 'warn', message: verdict.error });
      writer.emit({
        kind: 'status',
        status: 'pending',
        message: verdict.release ? 'released back to the queue' : 'retry scheduled',
        data: { scheduledAt: verdict.scheduledAt },
      });
      await writer.close();
      if (writer.stoppedReason !== 'closed' && writer.stoppedReason !== undefined)
        return 'lease-lost';
      const rec =
        (await deps.ops.requeue(op.id, {
          ...ref,
          scheduledAt: verdict.scheduledAt,
          now,
          logSeq: writer.storedSeq,
          error: verdict.error,
          ...(verdict.release && { attemptDelta: -1 as const }),
        })) ??
        (await this.ourWrite(
          (r) => r.version === op.version + 1 && r.scheduledAt === verdict.scheduledAt && !r.owner,
        ));
      if (!rec) return this.lost(writer);
      this.latest = rec;
      announce(deps.publisher, rec, deps.logger);
      return verdict.release ? 'released' : 'retry';
    }

    const error = verdict.status === 'completed' ? undefined : verdict.error;
    const rec =
      (await deps.ops.finish(op.id, {
        ...ref,
        status: verdict.status,
        now,
        expiresAt: expiresAtFor(op, now),
        ...(verdict.status === 'completed' && verdict.result && { result: verdict.result }),
        ...(error !== undefined && { error }),
      })) ??
      (await this.ourWrite(
        (r) =>
          r.version === op.version + 1 && r.owner === deps.owner && r.status === verdict.status,
      ));
    if (!rec) return this.lost(writer);
    this.latest = rec;
    writer.setCanWrite(() => true);
    if (error !== undefined)
      writer.emit({
        kind: 'log',
        level: verdict.status === 'failed' ? 'error' : 'info',
        message: error,
      });
    writer.emit({ kind: 'status', status: verdict.status });
    writer.emit({
      kind: 'end',
      status: verdict.status,
      ...(error !== undefined && { message: error }),
    });
    await writer.close();
    announce(deps.publisher, rec, deps.logger);
    if (verdict.status === 'failed') {
      await kind
        .onFailed?.(deps.hooks, rec, error ?? 'failed')
        .catch((err: unknown) =>
          deps.logger.warn({ err, operationId: op.id }, 'onFailed hook failed'),
        );
    }
    return verdict.status satisfies OperationStatus;
  }

  /**
   * After a refused final write: did an earlier try of that same write (the SDK retries when a
   * response is lost) already succeed? Then the refusal is our own change, not a lost lease.
   */
  private async ourWrite(isOurs: (r: OperationRecord) => boolean): Promise<OperationRecord | null> {
    const r = await this.deps.ops.get(this.op.id, this.deps.clock.now());
    return r && isOurs(r) ? r : null;
  }

  private lost(writer: LogWriter): RunOutcome {
    writer.discard('lease lost');
    this.deps.logger.warn({ operationId: this.op.id }, 'final write refused: lease lost');
    return 'lease-lost';
  }

  private fire(kind: AbortKind, reason: string): void {
    // A lost lease wins over anything else: after it we must not write at all.
    if (this.abortInfo && !(kind === 'lease-lost' && this.abortInfo.kind !== 'lease-lost')) return;
    this.abortInfo = { kind, reason };
    if (!this.controller.signal.aborted) this.controller.abort(new OperationAbort(kind, reason));
  }
}
