import { randomUUID } from 'node:crypto';
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { TableNames } from '../config/env';
import type { EventPublisher } from '../events/publisher';
import { badRequest, conflict, notFound } from '../http/errors';
import { OperationLogStore } from '../store/operation-logs';
import { expiresAtFor, OperationStore } from '../store/operations';
import {
  isTerminal,
  type OperationEvent,
  type OperationRecord,
  type OperationType,
} from '../store/types';
import { announce, type WarnLogger } from './announce';
import { defaultCatalog, type Catalog } from './catalog';
import { systemClock, type Clock } from './clock';
import type { OperationsConfig } from './config';
import type { OperationControl } from './handlers';
import { LogWriter } from './log-writer';

/** The one destroy operation of an interview: a deterministic id makes "enqueue destroy" idempotent. */
export const destroyOperationId = (interviewId: string) => `destroy-${interviewId}`;

export interface EnqueueInput {
  interviewId: string;
  type: OperationType;
  /**
   * When the work must be done: for a create, the interview's start. The engine subtracts the
   * type's lead (PROVISION_LEAD_SECONDS for creates, see catalog.ts) and stores the DUE time in
   * the record's `scheduledAt`.
   */
  scheduledAt: number;
  /** Creates only: the interview's deadline; the deadline sweeper enqueues the destroy then. */
  autoDestroyAt?: number;
  /** A deterministic id (destroys default to `destroyOperationId(interviewId)`). */
  id?: string;
}

export interface EnqueueResult {
  operation: OperationRecord;
  /** False when an operation with this id already existed (returned as stored). */
  created: boolean;
}

export type CancelOutcome = 'cancelled' | 'cancel-requested';

export interface EngineDeps {
  db: DynamoDBDocumentClient;
  tables: Pick<TableNames, 'operations' | 'operationLogs'>;
  publisher: EventPublisher;
  config: OperationsConfig;
  clock?: Clock;
  catalog?: Catalog;
  logger?: WarnLogger;
}

type Listener<T> = (value: T) => void;

/**
 * The operations API the rest of the portal uses: enqueue, read, cancel, extend. It never runs
 * operations (the Scheduler does); in-process listeners (the scheduler) hear about new
 * operations and cancel requests at once instead of waiting for their next poll.
 */
export class OperationsEngine implements OperationControl {
  readonly ops: OperationStore;
  readonly logStore: OperationLogStore;
  readonly clock: Clock;
  readonly catalog: Catalog;
  private readonly enqueued = new Set<Listener<OperationRecord>>();
  private readonly cancelRequested = new Set<Listener<string>>();

  constructor(private readonly deps: EngineDeps) {
    this.ops = new OperationStore(deps.db, deps.tables.operations);
    this.logStore = new OperationLogStore(deps.db, deps.tables.operationLogs);
    this.clock = deps.clock ?? systemClock;
    this.catalog = deps.catalog ?? defaultCatalog;
  }

  /** Records a new operation, due at `scheduledAt − lead`. Idempotent for a given id. */
  async enqueue(input: EnqueueInput): Promise<EnqueueResult> {
    if (!input.interviewId) throw badRequest('interviewId is required');
    if (!Number.isFinite(input.scheduledAt)) throw badRequest('scheduledAt must be a time');
    if (input.autoDestroyAt !== undefined && input.type !== 'create') {
      throw badRequest('only create operations have an autoDestroyAt');
    }
    const now = this.clock.now();
    const due = input.scheduledAt - this.catalog[input.type].leadMs(this.deps.config);
    const id =
      input.id ??
      (input.type === 'destroy' ? destroyOperationId(input.interviewId) : `op_${randomUUID()}`);
    const op: OperationRecord = {
      id,
      interviewId: input.interviewId,
      type: input.type,
      status: due > now ? 'scheduled' : 'pending',
      scheduledAt: due,
      ...(input.autoDestroyAt !== undefined && { autoDestroyAt: input.autoDestroyAt }),
      attempt: 0,
      version: 0,
      createdAt: now,
    };
    if (!(await this.ops.put(op))) {
      const existing = await this.ops.get(id, now);
      if (existing) return { operation: existing, created: false };
      throw conflict(`operation ${id} exists but has expired`);
    }
    for (const l of this.enqueued) l(op);
    announce(this.deps.publisher, op, this.deps.logger);
    return { operation: op, created: true };
  }

  async get(id: string): Promise<OperationRecord | null> {
    return this.ops.get(id, this.clock.now());
  }

  async byInterview(interviewId: string, type?: OperationType): Promise<OperationRecord[]> {
    return this.ops.byInterview(interviewId, this.clock.now(), type);
  }

  /**
   * Cancels an operation: a queued one becomes `cancelled` at once (conditional write, then its
   * log gets the status and `end`); a running one gets `cancelRequested` and its runner aborts
   * within one heartbeat (at once if it runs in this process). Throws 404 for an unknown id
   * and 409 for a terminal operation.
   */
  async cancel(
    id: string,
    reason = 'cancelled by request',
  ): Promise<{ operation: OperationRecord; outcome: CancelOutcome }> {
    for (let i = 0; i < 5; i++) {
      const now = this.clock.now();
      const op = await this.ops.get(id, now);
      if (!op) throw notFound('operation');
      if (isTerminal(op.status)) throw conflict(`operation is already ${op.status}`);
      if (op.status === 'running') {
        const rec = op.cancelRequested ? op : await this.ops.requestCancel(id);
        if (!rec) continue; // it finished or went back to the queue in between
        for (const l of this.cancelRequested) l(id);
        return { operation: rec, outcome: 'cancel-requested' };
      }
      const rec = await this.ops.cancelQueued(id, {
        now,
        reason,
        expiresAt: expiresAtFor(op, now),
      });
      if (!rec) continue; // claimed in between: ask the runner instead
      // Terminal now, so nobody else writes this log: we are its single writer.
      const writer = await LogWriter.resume({
        store: this.logStore,
        publisher: this.deps.publisher,
        operationId: id,
        clock: this.clock,
      });
      writer.emit({ kind: 'status', status: 'cancelled', message: reason });
      writer.emit({ kind: 'end', status: 'cancelled', message: reason });
      await writer.close();
      announce(this.deps.publisher, rec, this.deps.logger);
      return { operation: rec, outcome: 'cancelled' };
    }
    throw conflict('operation kept changing state; try again');
  }

  /** Log entries with seq > afterSeq, in order (the SSE stream's history). */
  async logs(id: string, afterSeq = 0, limit = 500): Promise<OperationEvent[]> {
    return this.logStore.readAfter(id, afterSeq, limit, this.clock.now());
  }

  /**
   * Moves an interview's deadline ("extend"): sets the create operation's `autoDestroyAt`.
   * `too-late` when the destroy is already underway (enqueued and no longer movable).
   */
  async setDeadline(
    createOperationId: string,
    autoDestroyAt: number,
  ): Promise<'updated' | 'too-late'> {
    const now = this.clock.now();
    const before = await this.ops.get(createOperationId, now);
    if (!before) throw notFound('operation');
    if (before.type !== 'create') throw badRequest('only create operations have a deadline');
    if (!(await this.ops.setAutoDestroyAt(createOperationId, autoDestroyAt))) return 'too-late';
    // The sweeper may have enqueued the destroy just before our write (it clears autoDestroyAt
    // only after the put): move that destroy too, if it is still the deadline's and queued.
    const destroy = await this.ops.get(destroyOperationId(before.interviewId), now);
    if (!destroy) return 'updated';
    if (before.autoDestroyAt !== undefined) {
      const moved = await this.ops.reschedule(destroy.id, {
        from: before.autoDestroyAt,
        to: autoDestroyAt,
        now,
      });
      if (moved) return 'updated';
    }
    return 'too-late';
  }

  /** In-process notification of every new operation (the scheduler wakes on it). */
  onEnqueued(listener: Listener<OperationRecord>): () => void {
    this.enqueued.add(listener);
    return () => this.enqueued.delete(listener);
  }

  /** In-process notification of cancel requests on running operations. */
  onCancelRequested(listener: Listener<string>): () => void {
    this.cancelRequested.add(listener);
    return () => this.cancelRequested.delete(listener);
  }
}
