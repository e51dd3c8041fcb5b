import { isConditionFailure } from './conditions';
import {
  GetCommand,
  PutCommand,
  QueryCommand,
  UpdateCommand,
  type DynamoDBDocumentClient,
  type QueryCommandInput,
} from '@aws-sdk/lib-dynamodb';
import { INDEX } from './tables';
import {
  QUEUED_STATUSES,
  type OperationRecord,
  type OperationStatus,
  type OperationType,
} from './types';

/**
 * Every key shape and condition expression of the operations table (the only module that
 * builds them). dynalite has no transactions and no TTL deletion, so:
 * - every state change is ONE conditional UpdateItem;
 * - a runner's writes are conditioned on `owner` + `version` (the claim bumps `version`, so a
 *   runner that lost its lease cannot write, even if the same owner id claimed again);
 * - terminal operations get `expiresAt` (epoch seconds) and every reader drops expired items,
 *   because real DynamoDB deletes TTL items lazily and dynalite never does.
 *
 * Lease times are wall-clock epoch ms written by the holder and compared by the claimer with
 * its own clock: we assume clocks are NTP-synced to well within `LEASE_MS / 10` (the margin the
 * holder keeps, see operations/lease.ts).
 */

/** How long a terminal operation is kept (after its deadline, for creates). */
export const TERMINAL_RETENTION_MS = 7 * 24 * 3600_000;

const RUNNING: OperationStatus = 'running';
const [PENDING, SCHEDULED] = QUEUED_STATUSES;
const ALL_STATUSES: OperationStatus[] = [
  'pending',
  'scheduled',
  'running',
  'completed',
  'failed',
  'cancelled',
];
const PAGE = 250;

export interface Page<T> {
  items: T[];
  /** True when the limit cut the result short (more matching items exist). */
  truncated: boolean;
}

export interface LeaseRef {
  owner: string;
  version: number;
}

const expired = (op: { expiresAt?: number }, now: number) =>
  op.expiresAt !== undefined && op.expiresAt * 1000 <= now;

/** Epoch seconds at which a terminal operation may be deleted. */
export function expiresAtFor(op: Pick<OperationRecord, 'autoDestroyAt'>, now: number): number {
  return Math.ceil((Math.max(now, op.autoDestroyAt ?? 0) + TERMINAL_RETENTION_MS) / 1000);
}

export class OperationStore {
  constructor(
    private readonly db: DynamoDBDocumentClient,
    readonly table: string,
  ) {}

  /** Stores a new operation; false when one with this id already exists. */
  async put(op: OperationRecord): Promise<boolean> {
    try {
      await this.db.send(
        new PutCommand({
          TableName: this.table,
          Item: op,
          ConditionExpression: 'attribute_not_exists(id)',
        }),
      );
      return true;
    } catch (e) {
      if (isConditionFailure(e)) return false;
      throw e;
    }
  }

  async get(id: string, now: number): Promise<OperationRecord | null> {
    const r = await this.db.send(
      new GetCommand({ TableName: this.table, Key: { id }, ConsistentRead: true }),
    );
    const op = r.Item as OperationRecord | undefined;
    return op && !expired(op, now) ? op : null;
  }

  /**
   * Takes the lease with one conditional write: the operation is queued and due, or running
   * with an expired lease (its runner died), and it has attempts left. Sets owner and lease,
   * bumps attempt and version. Null when someone else got it or it is not claimable.
   */
  async claim(
    id: string,
    a: { owner: string; now: number; leaseMs: number; maxAttempts: number },
  ): Promise<OperationRecord | null> {
    return this.update(id, {
      ConditionExpression:
        'attempt < :max AND ((#s IN (:pending, :scheduled) AND scheduledAt <= :now) OR ' +
        '(#s = :running AND leaseUntil < :now))',
      UpdateExpression:
        'SET claimedFrom = #s, #s = :running, #o = :owner, leaseUntil = :until, ' +
        'startedAt = if_not_exists(startedAt, :now) ADD attempt :one, version :one',
      ExpressionAttributeNames: { '#s': 'status', '#o': 'owner' },
      ExpressionAttributeValues: {
        ':max': a.maxAttempts,
        ':pending': PENDING,
        ':scheduled': SCHEDULED,
        ':running': RUNNING,
        ':now': a.now,
        ':owner': a.owner,
        ':until': a.now + a.leaseMs,
        ':one': 1,
      },
    });
  }

  /**
   * Takes the lease WITHOUT counting an attempt, from the exact version seen (queued, or running
   * with an expired lease). The reaper uses it to fail an operation that has no attempts left.
   */
  async takeOver(
    id: string,
    a: { owner: string; now: number; leaseMs: number; version: number },
  ): Promise<OperationRecord | null> {
    return this.update(id, {
      ConditionExpression:
        'version = :v AND (#s IN (:pending, :scheduled) OR (#s = :running AND leaseUntil < :now))',
      UpdateExpression: 'SET #s = :running, #o = :owner, leaseUntil = :until ADD version :one',
      ExpressionAttributeNames: { '#s': 'status', '#o': 'owner' },
      ExpressionAttributeValues: {
        ':v': a.version,
        ':pending': PENDING,
        ':scheduled': SCHEDULED,
        ':running': RUNNING,
        ':now': a.now,
        ':owner': a.owner,
        ':until': a.now + a.leaseMs,
        ':one': 1,
      },
    });
  }

  /**
   * Extends the lease of the holder (owner + version; the version is not bumped, so a retried
   * renew is harmless). Returns whether a cancel was requested, or null when the lease is lost.
   */
  async renew(
    id: string,
    a: LeaseRef & { leaseUntil: number },
  ): Promise<{ cancelRequested: boolean } | null> {
    const op = await this.update(id, {
      ConditionExpression: '#o = :owner AND version = :v AND #s = :running',
      UpdateExpression: 'SET leaseUntil = :until',
      ExpressionAttributeNames: { '#s': 'status', '#o': 'owner' },
      ExpressionAttributeValues: {
        ':owner': a.owner,
        ':v': a.version,
        ':running': RUNNING,
        ':until': a.leaseUntil,
      },
    });
    return op && { cancelRequested: op.cancelRequested === true };
  }

  /**
   * The holder puts the operation back in the queue as `pending` (a retry waiting out its
   * backoff in `scheduledAt`, or a release on shutdown with `attemptDelta: -1` because that
   * attempt reached no verdict).
   */
  async requeue(
    id: string,
    a: LeaseRef & {
      scheduledAt: number;
      now: number;
      /** The last log seq stored (the whole log is flushed before the requeue). */
      logSeq: number;
      error?: string;
      attemptDelta?: 0 | -1;
    },
  ): Promise<OperationRecord | null> {
    return this.update(id, {
      ConditionExpression: '#o = :owner AND version = :v AND #s = :running',
      UpdateExpression:
        `SET #s = :status, scheduledAt = :at, logSeq = :seq${a.error !== undefined ? ', #e = :error' : ''} ` +
        'REMOVE leaseUntil, #o ADD version :one, attempt :delta',
      ExpressionAttributeNames: {
        '#s': 'status',
        '#o': 'owner',
        ...(a.error !== undefined && { '#e': 'error' }),
      },
      ExpressionAttributeValues: {
        ':owner': a.owner,
        ':v': a.version,
        ':running': RUNNING,
        ':status': PENDING,
        ':at': a.scheduledAt,
        ':seq': a.logSeq,
        ':one': 1,
        ':delta': a.attemptDelta ?? 0,
        ...(a.error !== undefined && { ':error': a.error }),
      },
    });
  }

  /** The holder's final write: terminal status, TTL, lease removed (owner kept for history). */
  async finish(
    id: string,
    a: LeaseRef & {
      status: 'completed' | 'failed' | 'cancelled';
      now: number;
      expiresAt: number;
      result?: Record<string, unknown>;
      error?: string;
    },
  ): Promise<OperationRecord | null> {
    const sets = ['#s = :status', 'finishedAt = :now', 'expiresAt = :exp'];
    const values: Record<string, unknown> = {
      ':owner': a.owner,
      ':v': a.version,
      ':running': RUNNING,
      ':status': a.status,
      ':now': a.now,
      ':exp': a.expiresAt,
      ':one': 1,
    };
    const names: Record<string, string> = { '#s': 'status', '#o': 'owner' };
    if (a.result !== undefined) {
      sets.push('#r = :result');
      names['#r'] = 'result';
      values[':result'] = a.result;
    }
    if (a.error !== undefined) {
      sets.push('#e = :error');
      names['#e'] = 'error';
      values[':error'] = a.error;
    }
    return this.update(id, {
      ConditionExpression: '#o = :owner AND version = :v AND #s = :running',
      UpdateExpression: `SET ${sets.join(', ')} REMOVE leaseUntil ADD version :one`,
      ExpressionAttributeNames: names,
      ExpressionAttributeValues: values,
    });
  }

  /** Cancels an operation that is still queued (nobody holds it). Null when it is not queued. */
  async cancelQueued(
    id: string,
    a: { now: number; reason: string; expiresAt: number },
  ): Promise<OperationRecord | null> {
    return this.update(id, {
      ConditionExpression: '#s IN (:pending, :scheduled)',
      UpdateExpression:
        'SET #s = :cancelled, cancelRequested = :true, finishedAt = :now, #e = :reason, ' +
        'expiresAt = :exp ADD version :one',
      ExpressionAttributeNames: { '#s': 'status', '#e': 'error' },
      ExpressionAttributeValues: {
        ':pending': PENDING,
        ':scheduled': SCHEDULED,
        ':cancelled': 'cancelled',
        ':true': true,
        ':now': a.now,
        ':reason': a.reason,
        ':exp': a.expiresAt,
        ':one': 1,
      },
    });
  }

  /**
   * Asks the runner of a running operation to stop: its next heartbeat sees the flag and aborts.
   * Does not bump `version` (that would look like a lost lease to the runner).
   */
  async requestCancel(id: string): Promise<OperationRecord | null> {
    return this.update(id, {
      ConditionExpression: '#s = :running',
      UpdateExpression: 'SET cancelRequested = :true',
      ExpressionAttributeNames: { '#s': 'status' },
      ExpressionAttributeValues: { ':running': RUNNING, ':true': true },
    });
  }

  /**
   * Queued operations (pending and scheduled) due at or before `until`, earliest first, via
   * GSI status-scheduledAt. `until` may be ahead of now: the scheduler looks ahead to know
   * when to wake up.
   */
  async queryDue(until: number, a: { now: number; limit: number }): Promise<Page<OperationRecord>> {
    const pages = await Promise.all(
      QUEUED_STATUSES.map((status) =>
        this.queryAll(
          {
            IndexName: INDEX.opsByStatusScheduledAt,
            KeyConditionExpression: '#s = :s AND scheduledAt <= :until',
            ExpressionAttributeNames: { '#s': 'status' },
            ExpressionAttributeValues: { ':s': status, ':until': until },
          },
          a.now,
          a.limit,
        ),
      ),
    );
    return merge(pages, (o) => o.scheduledAt, a.limit);
  }

  /** Running operations whose lease ended before `now` (their runner died or stalled). */
  async queryExpiredLeases(now: number, limit: number): Promise<Page<OperationRecord>> {
    return this.queryAll(
      {
        IndexName: INDEX.opsByStatusScheduledAt,
        KeyConditionExpression: '#s = :s',
        FilterExpression: 'leaseUntil < :now',
        ExpressionAttributeNames: { '#s': 'status' },
        ExpressionAttributeValues: { ':s': RUNNING, ':now': now },
      },
      now,
      limit,
    );
  }

  /**
   * Create operations whose `autoDestroyAt` is at or before `until`, in any status, earliest
   * first, via the sparse GSI status-autoDestroyAt (the attribute is removed once the destroy
   * operation exists).
   */
  async queryDeadlines(
    until: number,
    a: { now: number; limit: number },
  ): Promise<Page<OperationRecord>> {
    const pages = await Promise.all(
      ALL_STATUSES.map((status) =>
        this.queryAll(
          {
            IndexName: INDEX.opsByStatusAutoDestroyAt,
            KeyConditionExpression: '#s = :s AND autoDestroyAt <= :until',
            ExpressionAttributeNames: { '#s': 'status' },
            ExpressionAttributeValues: { ':s': status, ':until': until },
          },
          a.now,
          a.limit,
        ),
      ),
    );
    return merge(pages, (o) => o.autoDestroyAt ?? 0, a.limit);
  }

  /** Operations of one interview (optionally of one type), via GSI interviewId-type. */
  async byInterview(
    interviewId: string,
    now: number,
    type?: OperationType,
  ): Promise<OperationRecord[]> {
    const page = await this.queryAll(
      {
        IndexName: INDEX.opsByInterviewType,
        KeyConditionExpression: type ? 'interviewId = :i AND #t = :t' : 'interviewId = :i',
        ...(type && { ExpressionAttributeNames: { '#t': 'type' } }),
        ExpressionAttributeValues: { ':i': interviewId, ...(type && { ':t': type }) },
      },
      now,
      1000,
    );
    return page.items;
  }

  /** Removes `autoDestroyAt` once the destroy exists, only if it still holds the value seen. */
  async clearAutoDestroy(id: string, seen: number): Promise<boolean> {
    return (
      (await this.update(id, {
        ConditionExpression: 'autoDestroyAt = :seen',
        UpdateExpression: 'REMOVE autoDestroyAt',
        ExpressionAttributeValues: { ':seen': seen },
      })) !== null
    );
  }

  /**
   * Moves the deadline of a create operation ("extend"). Only while the deadline is still
   * pending (the destroy not yet enqueued); null otherwise. A terminal record's TTL is pushed
   * past the new deadline so it cannot expire first.
   */
  async setAutoDestroyAt(id: string, at: number): Promise<OperationRecord | null> {
    const op = await this.update(id, {
      ConditionExpression: 'attribute_exists(autoDestroyAt)',
      UpdateExpression: 'SET autoDestroyAt = :at',
      ExpressionAttributeValues: { ':at': at },
    });
    if (op?.expiresAt !== undefined) {
      const exp = expiresAtFor({ autoDestroyAt: at }, 0);
      await this.update(id, {
        ConditionExpression: 'attribute_exists(expiresAt) AND expiresAt < :exp',
        UpdateExpression: 'SET expiresAt = :exp',
        ExpressionAttributeValues: { ':exp': exp },
      });
    }
    return op;
  }

  /** Moves a queued operation's due time, only if it is still queued and due at `from`. */
  async reschedule(
    id: string,
    a: { from: number; to: number; now: number },
  ): Promise<OperationRecord | null> {
    return this.update(id, {
      ConditionExpression: '#s IN (:pending, :scheduled) AND scheduledAt = :from',
      UpdateExpression: 'SET #s = :status, scheduledAt = :to ADD version :one',
      ExpressionAttributeNames: { '#s': 'status' },
      ExpressionAttributeValues: {
        ':pending': PENDING,
        ':scheduled': SCHEDULED,
        ':from': a.from,
        ':to': a.to,
        ':status': a.to > a.now ? SCHEDULED : PENDING,
        ':one': 1,
      },
    });
  }

  private async update(
    id: string,
    input: {
      ConditionExpression: string;
      UpdateExpression: string;
      ExpressionAttributeNames?: Record<string, string>;
      ExpressionAttributeValues: Record<string, unknown>;
    },
  ): Promise<OperationRecord | null> {
    try {
      const r = await this.db.send(
        new UpdateCommand({
          TableName: this.table,
          Key: { id },
          ReturnValues: 'ALL_NEW',
          ...input,
        }),
      );
      return r.Attributes as OperationRecord;
    } catch (e) {
      if (isConditionFailure(e)) return null;
      throw e;
    }
  }

  private async queryAll(
    input: Omit<QueryCommandInput, 'TableName'>,
    now: number,
    limit: number,
  ): Promise<Page<OperationRecord>> {
    const items: OperationRecord[] = [];
    let start: Record<string, unknown> | undefined;
    do {
      const r = await this.db.send(
        new QueryCommand({
          TableName: this.table,
          ...input,
          Limit: Math.min(PAGE, limit - items.length + 1),
          ...(start && { ExclusiveStartKey: start }),
        }),
      );
      for (const op of (r.Items ?? []) as OperationRecord[]) {
        if (!expired(op, now)) items.push(op);
      }
      start = r.LastEvaluatedKey;
    } while (start && items.length <= limit);
    return { items: items.slice(0, limit), truncated: items.length > limit || start !== undefined };
  }
}

function merge<T>(pages: Page<T>[], key: (t: T) => number, limit: number): Page<T> {
  const all = pages.flatMap((p) => p.items).sort((a, b) => key(a) - key(b));
  return {
    items: all.slice(0, limit),
    truncated: all.length > limit || pages.some((p) => p.truncated),
  };
}
