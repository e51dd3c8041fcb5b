import {
  PutCommand,
  QueryCommand,
  UpdateCommand,
  type DynamoDBDocumentClient,
} from '@aws-sdk/lib-dynamodb';
import { isConditionFailure } from './conditions';

/**
 * Per-interview gateway tokens, stored only as SHA-256 hashes (the tokens carry 256 bits from a
 * CSPRNG, so a fast hash is enough: nothing to brute-force). Key: (interviewId, tokenHash); an
 * interview may hold several (e.g. a re-issued token after an instance was adopted).
 */
export interface TokenItem {
  interviewId: string;
  /** Hex SHA-256 of the whole token string. */
  tokenHash: string;
  expiresAt: number;
  createdAt: number;
  revokedAt?: number;
}

export class TokenStore {
  constructor(
    private readonly db: DynamoDBDocumentClient,
    private readonly table: string,
  ) {}

  async put(item: TokenItem): Promise<void> {
    await this.db.send(
      new PutCommand({
        TableName: this.table,
        Item: item,
        ConditionExpression: 'attribute_not_exists(tokenHash)',
      }),
    );
  }

  async list(interviewId: string): Promise<TokenItem[]> {
    const r = await this.db.send(
      new QueryCommand({
        TableName: this.table,
        KeyConditionExpression: 'interviewId = :i',
        ExpressionAttributeValues: { ':i': interviewId },
        ConsistentRead: true,
      }),
    );
    return (r.Items ?? []) as TokenItem[];
  }

  /** Revokes every token of the interview (keeps the first revocation time). */
  async revokeAll(interviewId: string, now: number): Promise<number> {
    const items = await this.list(interviewId);
    await Promise.all(
      items
        .filter((t) => t.revokedAt === undefined)
        .map((t) =>
          this.update(t, 'SET revokedAt = if_not_exists(revokedAt, :now)', { ':now': now }),
        ),
    );
    return items.length;
  }

  /** Moves every live token's expiry to the interview's (new) deadline. */
  async setExpiry(interviewId: string, expiresAt: number): Promise<void> {
    const items = await this.list(interviewId);
    await Promise.all(
      items
        .filter((t) => t.revokedAt === undefined)
        .map((t) => this.update(t, 'SET expiresAt = :e', { ':e': expiresAt })),
    );
  }

  private async update(t: TokenItem, expr: string, values: Record<string, unknown>): Promise<void> {
    try {
      await this.db.send(
        new UpdateCommand({
          TableName: this.table,
          Key: { interviewId: t.interviewId, tokenHash: t.tokenHash },
          UpdateExpression: expr,
          ConditionExpression: 'attribute_exists(tokenHash)',
          ExpressionAttributeValues: values,
        }),
      );
    } catch (e) {
      if (!isConditionFailure(e)) throw e;
    }
  }
}
