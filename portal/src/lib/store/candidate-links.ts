import { GetCommand, PutCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { isConditionFailure } from './conditions';

/**
 * One candidate link per interview, keyed by interviewId. The token itself is never stored:
 * only its SHA-256 (`tokenHash`) and the random `salt` it is derived from with the server's key
 * (so the portal can show the link to interviewers again; a database leak alone reveals nothing).
 */
export interface CandidateLinkItem {
  interviewId: string;
  tokenHash: string;
  salt: string;
  createdAt: number;
}

export class CandidateLinkStore {
  constructor(
    private readonly db: DynamoDBDocumentClient,
    private readonly table: string,
  ) {}

  /** Stores `item` unless the interview already has a link; returns the link that is stored. */
  async putIfAbsent(item: CandidateLinkItem): Promise<CandidateLinkItem> {
    try {
      await this.db.send(
        new PutCommand({
          TableName: this.table,
          Item: item,
          ConditionExpression: 'attribute_not_exists(interviewId)',
        }),
      );
      return item;
    } catch (e) {
      if (!isConditionFailure(e)) throw e;
      const existing = await this.get(item.interviewId);
      if (!existing) throw e;
      return existing;
    }
  }

  async get(interviewId: string): Promise<CandidateLinkItem | null> {
    const r = await this.db.send(
      new GetCommand({ TableName: this.table, Key: { interviewId }, ConsistentRead: true }),
    );
    return (r.Item as CandidateLinkItem | undefined) ?? null;
  }
}
