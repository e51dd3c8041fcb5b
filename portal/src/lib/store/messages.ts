import {
  BatchWriteCommand,
  QueryCommand,
  type DynamoDBDocumentClient,
} from '@aws-sdk/lib-dynamodb';

/**
 * Conversation messages (the AI transcript). Key: (interviewId, sk) with
 * sk = `<at, 13 digits>#<requestId>#<part>`: time order first, then a request's prompt
 * messages (`p00`, `p01`, …) before its response (`r`).
 */
export type MessageRole = 'system' | 'developer' | 'user' | 'assistant' | 'tool';
export type MessageStatus = 'complete' | 'stopped' | 'error';

export interface MessageItem {
  interviewId: string;
  sk: string;
  requestId: string;
  at: number;
  role: MessageRole;
  content: string;
  /** The stored content was cut (only tool-call text is ever cut; message content is chunked instead). */
  contentTruncated?: boolean;
  /** On a message whose content spans several items: how many (this head item included). */
  chunks?: number;
  /** On a continuation item: the head item's sk (its key is `chunkKey(head, i)`). */
  chunkOf?: string;
  /** Tool calls of an assistant message, as JSON text (possibly truncated). */
  toolCalls?: string;
  // The response item (role `assistant`, part `r`) carries the request's accounting:
  model?: string;
  /** Charged prompt tokens (the provider's usage, or an estimate when `estimated`). */
  tokensIn?: number;
  /** Charged completion tokens. */
  tokensOut?: number;
  estimated?: boolean;
  status?: MessageStatus;
  finishReason?: string;
  errorCode?: string;
  latencyMs?: number;
  ttftMs?: number;
  /** The budget slice the charge was taken from (the sweeper sums charges per slice). */
  sliceId?: string;
  /** Tokens reserved for the request (prompt estimate + clamped max_completion_tokens). */
  reserved?: number;
  /** Provider usage when it exceeded the reservation (then only the reservation was charged). */
  reportedIn?: number;
  reportedOut?: number;
}

export const messageKey = (at: number, requestId: string, part: string) =>
  `${String(Math.max(0, Math.floor(at))).padStart(13, '0')}#${requestId}#${part}`;

/** Continuation items of a long message sort right after their head item (`~` sorts after `#`, digits, letters). */
export const chunkKey = (headSk: string, i: number) => `${headSk}~${String(i).padStart(4, '0')}`;

const BATCH = 25;

export class MessageStore {
  constructor(
    private readonly db: DynamoDBDocumentClient,
    private readonly table: string,
  ) {}

  /** Writes items (idempotent: keys are deterministic per request), retrying unprocessed ones. */
  async putBatch(items: MessageItem[]): Promise<void> {
    for (let i = 0; i < items.length; i += BATCH) {
      let requests: { PutRequest: { Item: Record<string, unknown> } }[] = items
        .slice(i, i + BATCH)
        .map((Item) => ({ PutRequest: { Item: Item as unknown as Record<string, unknown> } }));
      for (let attempt = 0; requests.length > 0; attempt++) {
        if (attempt > 0) await new Promise((r) => setTimeout(r, Math.min(1000, 20 * 2 ** attempt)));
        if (attempt > 8) throw new Error(`transcript: ${requests.length} items left unprocessed`);
        const r = await this.db.send(
          new BatchWriteCommand({ RequestItems: { [this.table]: requests } }),
        );
        requests = (r.UnprocessedItems?.[this.table] ?? []) as typeof requests;
      }
    }
  }

  /** One page of an interview's messages in time order, after the opaque `cursor`. */
  async list(
    interviewId: string,
    opts: { cursor?: string; limit: number },
  ): Promise<{ items: MessageItem[]; cursor?: string }> {
    const r = await this.db.send(
      new QueryCommand({
        TableName: this.table,
        KeyConditionExpression: opts.cursor ? 'interviewId = :i AND sk > :c' : 'interviewId = :i',
        ExpressionAttributeValues: { ':i': interviewId, ...(opts.cursor && { ':c': opts.cursor }) },
        Limit: opts.limit,
        ConsistentRead: true,
      }),
    );
    const items = (r.Items ?? []) as MessageItem[];
    const last = r.LastEvaluatedKey?.sk as string | undefined;
    return { items, ...(last && { cursor: last }) };
  }

  /** The continuation items of a long message, in order. */
  async continuations(interviewId: string, headSk: string): Promise<MessageItem[]> {
    const out: MessageItem[] = [];
    let start: Record<string, unknown> | undefined;
    do {
      const r = await this.db.send(
        new QueryCommand({
          TableName: this.table,
          KeyConditionExpression: 'interviewId = :i AND begins_with(sk, :p)',
          ExpressionAttributeValues: { ':i': interviewId, ':p': `${headSk}~` },
          ConsistentRead: true,
          ExclusiveStartKey: start,
        }),
      );
      out.push(...((r.Items ?? []) as MessageItem[]));
      start = r.LastEvaluatedKey;
    } while (start);
    return out;
  }

  /** What the stored responses charged to one slice (the sweeper's count for a dead holder). */
  async chargesForSlice(
    interviewId: string,
    sliceId: string,
  ): Promise<{ usedIn: number; usedOut: number; requests: number; estimated: number }> {
    const out = { usedIn: 0, usedOut: 0, requests: 0, estimated: 0 };
    let start: Record<string, unknown> | undefined;
    do {
      const r = await this.db.send(
        new QueryCommand({
          TableName: this.table,
          KeyConditionExpression: 'interviewId = :i',
          FilterExpression: 'sliceId = :s',
          ProjectionExpression: 'tokensIn, tokensOut, estimated',
          ExpressionAttributeValues: { ':i': interviewId, ':s': sliceId },
          ConsistentRead: true,
          ExclusiveStartKey: start,
        }),
      );
      for (const it of (r.Items ?? []) as Pick<
        MessageItem,
        'tokensIn' | 'tokensOut' | 'estimated'
      >[]) {
        out.usedIn += it.tokensIn ?? 0;
        out.usedOut += it.tokensOut ?? 0;
        out.requests += 1;
        if (it.estimated) out.estimated += 1;
      }
      start = r.LastEvaluatedKey;
    } while (start);
    return out;
  }
}
