import { randomBytes } from 'node:crypto';
import { PutCommand, QueryCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';

/**
 * The audit trail (table `audit`): one item per action, key (`subject`, `id`), where subject is
 * `interview#<id>` (or `org` for organisation settings) and id is `<13-digit ms>#<random>`, so
 * an interview's entries read back in time order with one Query. Append-only: never updated.
 */
export interface AuditItem {
  subject: string;
  id: string;
  at: number;
  /** Who acted: `interviewer`, `candidate`, `system`. */
  actor: string;
  /** What happened, e.g. `interview.extended`, `ai.access_ended`, `candidate_link.used`. */
  action: string;
  interviewId?: string;
  /** Small, secret-free details (amounts, new deadline, outcome). */
  details?: Record<string, unknown>;
}

export const interviewSubject = (interviewId: string) => `interview#${interviewId}`;

export class AuditStore {
  constructor(
    private readonly db: DynamoDBDocumentClient,
    private readonly table: string,
  ) {}

  async append(entry: Omit<AuditItem, 'id'>): Promise<AuditItem> {
    const item: AuditItem = {
      ...entry,
      id: `${String(entry.at).padStart(13, '0')}#${randomBytes(6).toString('base64url')}`,
    };
    await this.db.send(
      new PutCommand({
        TableName: this.table,
        Item: item,
        ConditionExpression: 'attribute_not_exists(id)',
      }),
    );
    return item;
  }

  /** Up to `limit` entries of a subject, oldest first, after the cursor (an entry id). */
  async list(
    subject: string,
    limit: number,
    after?: string,
  ): Promise<{ items: AuditItem[]; cursor?: string }> {
    const r = await this.db.send(
      new QueryCommand({
        TableName: this.table,
        KeyConditionExpression: after ? '#s = :s AND #id > :after' : '#s = :s',
        ExpressionAttributeNames: { '#s': 'subject', ...(after && { '#id': 'id' }) },
        ExpressionAttributeValues: { ':s': subject, ...(after && { ':after': after }) },
        Limit: limit,
        ConsistentRead: true,
      }),
    );
    const items = (r.Items ?? []) as AuditItem[];
    const last = r.LastEvaluatedKey?.id as string | undefined;
    return { items, ...(last && { cursor: last }) };
  }
}
