import { PutCommand, QueryCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { isConditionFailure } from './conditions';
import type { OperationEvent } from './types';

/**
 * The operation event log: one item per small batch, key (operationId, seq) where `seq` is the
 * LAST seq in the batch and `entries` holds the batch (each entry with its own seq). Never a
 * growing list inside the operation item (400 KB item limit).
 *
 * Why the last seq as the sort key: `readAfter(x)` can then start the key range at x + 1 and
 * never miss a batch that straddles x (such a batch has a key > x; entries ≤ x are dropped).
 *
 * Only the operation's lease holder appends (see operations/log-writer.ts), so seqs are
 * gap-free; the conditional put turns an accidental second writer into an error, not a
 * silent overwrite.
 */

/** Log items are kept this long after they are written (readers filter, dynalite never deletes). */
export const LOG_RETENTION_MS = 30 * 24 * 3600_000;

export class LogSeqConflictError extends Error {
  constructor(operationId: string, seq: number) {
    super(`operation ${operationId}: log seq ${seq} was already written by another writer`);
    this.name = 'LogSeqConflictError';
  }
}

interface LogItem {
  operationId: string;
  seq: number;
  first: number;
  entries: OperationEvent[];
  expiresAt: number;
}

export class OperationLogStore {
  constructor(
    private readonly db: DynamoDBDocumentClient,
    readonly table: string,
  ) {}

  /** Stores one batch (ascending seqs). Throws LogSeqConflictError if its key exists. */
  async append(operationId: string, entries: OperationEvent[], now: number): Promise<void> {
    const last = entries.at(-1);
    if (!last) return;
    const item: LogItem = {
      operationId,
      seq: last.seq,
      first: entries[0]!.seq,
      entries,
      expiresAt: Math.ceil((now + LOG_RETENTION_MS) / 1000),
    };
    try {
      await this.db.send(
        new PutCommand({
          TableName: this.table,
          Item: item,
          ConditionExpression: 'attribute_not_exists(seq)',
        }),
      );
    } catch (e) {
      if (isConditionFailure(e)) throw new LogSeqConflictError(operationId, last.seq);
      throw e;
    }
  }

  /** Up to `limit` entries with seq > afterSeq, in seq order (strictly increasing). */
  async readAfter(
    operationId: string,
    afterSeq: number,
    limit = 500,
    now = Date.now(),
  ): Promise<OperationEvent[]> {
    const out: OperationEvent[] = [];
    let last = afterSeq;
    let start: Record<string, unknown> | undefined;
    do {
      const r = await this.db.send(
        new QueryCommand({
          TableName: this.table,
          KeyConditionExpression: 'operationId = :id AND seq >= :from',
          ExpressionAttributeValues: { ':id': operationId, ':from': afterSeq + 1 },
          ConsistentRead: true,
          Limit: 50,
          ...(start && { ExclusiveStartKey: start }),
        }),
      );
      for (const item of (r.Items ?? []) as LogItem[]) {
        if (item.expiresAt * 1000 <= now) continue;
        for (const e of item.entries) {
          // Strictly increasing: drops what the caller has seen, and any duplicate seq.
          if (e.seq <= last) continue;
          out.push(e);
          last = e.seq;
          if (out.length >= limit) return out;
        }
      }
      start = r.LastEvaluatedKey;
    } while (start);
    return out;
  }

  /** The highest seq stored for the operation, 0 when it has no log yet. */
  async lastSeq(operationId: string): Promise<number> {
    const r = await this.db.send(
      new QueryCommand({
        TableName: this.table,
        KeyConditionExpression: 'operationId = :id',
        ExpressionAttributeValues: { ':id': operationId },
        ScanIndexForward: false,
        Limit: 1,
        ConsistentRead: true,
        ProjectionExpression: 'seq',
      }),
    );
    return (r.Items?.[0]?.seq as number | undefined) ?? 0;
  }
}
