import {
  GetCommand,
  PutCommand,
  QueryCommand,
  UpdateCommand,
  DeleteCommand,
  type DynamoDBDocumentClient,
} from '@aws-sdk/lib-dynamodb';
import { isConditionFailure } from './conditions';
import { INDEX } from './tables';
import type { InterviewRecord, InterviewStatus } from './types';

export interface Page<T> {
  items: T[];
  /** Opaque; pass back to get the next page. */
  cursor?: string;
}

const encodeCursor = (key: Record<string, unknown> | undefined) =>
  key ? Buffer.from(JSON.stringify(key)).toString('base64url') : undefined;

function decodeCursor(cursor: string | undefined): Record<string, unknown> | undefined {
  if (!cursor) return undefined;
  try {
    const key = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
    if (key && typeof key === 'object' && !Array.isArray(key)) return key;
  } catch {
    // fall through
  }
  throw new InvalidCursorError();
}

export class InvalidCursorError extends Error {
  constructor() {
    super('invalid cursor');
  }
}

/** Every key shape and condition for the interviews table. */
export class InterviewStore {
  constructor(
    private readonly db: DynamoDBDocumentClient,
    private readonly table: string,
  ) {}

  /** Writes a new interview; fails if the id exists. */
  async put(record: InterviewRecord): Promise<void> {
    await this.db.send(
      new PutCommand({
        TableName: this.table,
        Item: record,
        ConditionExpression: 'attribute_not_exists(id)',
      }),
    );
  }

  async get(id: string): Promise<InterviewRecord | null> {
    const r = await this.db.send(
      new GetCommand({ TableName: this.table, Key: { id }, ConsistentRead: true }),
    );
    return (r.Item as InterviewRecord | undefined) ?? null;
  }

  /** Undo of a create whose operation could not be written (no transactions on dynalite). */
  async delete(id: string): Promise<void> {
    await this.db.send(new DeleteCommand({ TableName: this.table, Key: { id } }));
  }

  /** Newest first, by the interviewer who created them. */
  async listByCreator(
    createdBy: string,
    limit: number,
    cursor?: string,
  ): Promise<Page<InterviewRecord>> {
    const r = await this.db.send(
      new QueryCommand({
        TableName: this.table,
        IndexName: INDEX.interviewsByCreator,
        KeyConditionExpression: 'createdBy = :c',
        ExpressionAttributeValues: { ':c': createdBy },
        ScanIndexForward: false,
        Limit: limit,
        ExclusiveStartKey: decodeCursor(cursor),
      }),
    );
    return {
      items: (r.Items ?? []) as InterviewRecord[],
      cursor: encodeCursor(r.LastEvaluatedKey),
    };
  }

  /** Interviews in a status whose deadline is at or before `before` (reconciler, startup). */
  async listByStatus(status: InterviewStatus, before: number): Promise<InterviewRecord[]> {
    const items: InterviewRecord[] = [];
    let start: Record<string, unknown> | undefined;
    do {
      const r = await this.db.send(
        new QueryCommand({
          TableName: this.table,
          IndexName: INDEX.interviewsByStatus,
          KeyConditionExpression: '#s = :s AND deadlineAt <= :b',
          ExpressionAttributeNames: { '#s': 'status' },
          ExpressionAttributeValues: { ':s': status, ':b': before },
          ExclusiveStartKey: start,
        }),
      );
      items.push(...((r.Items ?? []) as InterviewRecord[]));
      start = r.LastEvaluatedKey;
    } while (start);
    return items;
  }

  /**
   * Moves an interview to `status` unless it is already in one of `unless` (terminal states
   * never go back). Returns the updated record, or null when the condition did not hold.
   */
  async setStatus(
    id: string,
    status: InterviewStatus,
    opts: { unless?: InterviewStatus[]; instance?: Record<string, unknown>; now: number },
  ): Promise<InterviewRecord | null> {
    const unless = opts.unless ?? [];
    const names: Record<string, string> = { '#s': 'status' };
    const values: Record<string, unknown> = { ':s': status, ':now': opts.now, ':one': 1 };
    unless.forEach((u, i) => (values[`:u${i}`] = u));
    const sets = ['#s = :s', 'updatedAt = :now', 'version = version + :one'];
    if (opts.instance) {
      sets.push('instance = :inst');
      values[':inst'] = opts.instance;
    }
    const cond = ['attribute_exists(id)', ...unless.map((_, i) => `#s <> :u${i}`)].join(' AND ');
    try {
      const r = await this.db.send(
        new UpdateCommand({
          TableName: this.table,
          Key: { id },
          UpdateExpression: `SET ${sets.join(', ')}`,
          ConditionExpression: cond,
          ExpressionAttributeNames: names,
          ExpressionAttributeValues: values,
          ReturnValues: 'ALL_NEW',
        }),
      );
      return r.Attributes as InterviewRecord;
    } catch (e) {
      if (isConditionFailure(e)) return null;
      throw e;
    }
  }

  /** Records the destroy operation's id once (idempotent). */
  async setDestroyOperation(id: string, operationId: string, now: number): Promise<void> {
    await this.db.send(
      new UpdateCommand({
        TableName: this.table,
        Key: { id },
        UpdateExpression: 'SET destroyOperationId = :op, updatedAt = :now',
        ConditionExpression: 'attribute_exists(id)',
        ExpressionAttributeValues: { ':op': operationId, ':now': now },
      }),
    );
  }

  /**
   * Extends the deadline and/or the AI budget, conditioned on the version read so concurrent
   * extends never lose one another. Returns null if the record changed underneath.
   */
  async extend(
    current: InterviewRecord,
    change: { deadlineAt?: number; tokenBudget?: number },
    now: number,
  ): Promise<InterviewRecord | null> {
    const sets = ['updatedAt = :now', 'version = :next'];
    const values: Record<string, unknown> = {
      ':now': now,
      ':v': current.version,
      ':next': current.version + 1,
    };
    if (change.deadlineAt !== undefined) {
      sets.push('deadlineAt = :d', 'durationMinutes = :m');
      values[':d'] = change.deadlineAt;
      values[':m'] = Math.round((change.deadlineAt - current.scheduledAt) / 60_000);
    }
    if (change.tokenBudget !== undefined) {
      sets.push('ai.tokenBudget = :t');
      values[':t'] = change.tokenBudget;
    }
    try {
      const r = await this.db.send(
        new UpdateCommand({
          TableName: this.table,
          Key: { id: current.id },
          UpdateExpression: `SET ${sets.join(', ')}`,
          ConditionExpression: 'version = :v',
          ExpressionAttributeValues: values,
          ReturnValues: 'ALL_NEW',
        }),
      );
      return r.Attributes as InterviewRecord;
    } catch (e) {
      if (isConditionFailure(e)) return null;
      throw e;
    }
  }
}
