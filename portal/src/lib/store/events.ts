import { PutCommand, QueryCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { randomBytes } from 'node:crypto';
import type { GlobalEventInput } from '../events/publisher';

/**
 * The global change feed (table `events`): one item per change anyone watching the portal may
 * care about. Key: `bucket` = the UTC hour of the event (`2026-11-22T10`), `id` =
 * `<13-digit epoch ms>#<processId>#<counter>`, so ids sort by time within and across buckets.
 * Items live 24 h (`expiresAt`, epoch seconds); dynalite never deletes them and DynamoDB does
 * so lazily, so every read filters expired items.
 *
 * Clocks of different processes disagree a little: an event can be stored with an id slightly
 * *behind* ids already read. Followers therefore re-read a lookback window behind their cursor
 * and de-duplicate by id (see `EventHub`); this module only reads ranges.
 */

export interface FeedEvent {
  id: string;
  type: GlobalEventInput['type'];
  interviewId?: string;
  operationId?: string;
  data: Record<string, unknown>;
  /** Epoch ms; the time part of `id`. */
  ts: number;
}

interface FeedItem extends FeedEvent {
  bucket: string;
  expiresAt: number;
}

/** Feed ids: 13-digit ms, the writer's process id, a per-process counter. */
export const FEED_ID_PATTERN = /^\d{13}#[A-Za-z0-9_-]{1,64}#\d{8}$/;
const PROCESS_ID_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;

const HOUR_MS = 3_600_000;
export const FEED_TTL_SECONDS = 24 * 3600;
/** How far ahead of our clock a writer's clock may run and still be found right away. */
const FUTURE_SKEW_MS = 60_000;

/** The bucket (UTC hour) an event at `ms` is stored under, e.g. `2026-11-22T10`. */
export function feedBucket(ms: number): string {
  return new Date(ms).toISOString().slice(0, 13);
}

/** A cursor that sorts before every id at or after `ms` (and after every id before it). */
export function feedCursorAt(ms: number): string {
  return String(Math.max(0, Math.floor(ms))).padStart(13, '0');
}

/** The epoch ms of a feed id or cursor; NaN if it has none. */
export function feedIdTime(id: string): number {
  return /^\d{13}/.test(id) ? Number(id.slice(0, 13)) : NaN;
}

export interface EventFeedOptions {
  db: DynamoDBDocumentClient;
  table: string;
  /** Part of every id this process writes; default: random. Letters, digits, `_`, `-`. */
  processId?: string;
  ttlSeconds?: number;
  now?: () => number;
}

/** Reading side of the feed, as the hub and the SSE streams need it. */
export interface FeedReader {
  /**
   * Up to `limit` unexpired events with id > `afterId` (an id or a `feedCursorAt` cursor), in
   * id order, from the bucket of `afterId` (at most the retention back) through the current
   * one. Fewer than `limit` means there is nothing more right now.
   */
  readSince(afterId: string, limit: number): Promise<FeedEvent[]>;
}

export class EventFeed implements FeedReader {
  readonly processId: string;
  private readonly db: DynamoDBDocumentClient;
  private readonly table: string;
  private readonly ttlSeconds: number;
  private readonly now: () => number;
  private lastMs = 0;
  private counter = 0;

  constructor(opts: EventFeedOptions) {
    this.db = opts.db;
    this.table = opts.table;
    this.ttlSeconds = opts.ttlSeconds ?? FEED_TTL_SECONDS;
    this.now = opts.now ?? Date.now;
    this.processId = opts.processId ?? randomBytes(6).toString('base64url');
    if (!PROCESS_ID_PATTERN.test(this.processId))
      throw new Error(`invalid feed processId ${this.processId}`);
  }

  /** Stores one event and returns it with its id. Ids this process writes strictly increase. */
  async append(input: GlobalEventInput): Promise<FeedEvent> {
    // Never step back in time within one process, even if the wall clock does.
    const ms = Math.max(this.now(), this.lastMs);
    this.lastMs = ms;
    this.counter = (this.counter + 1) % 100_000_000;
    const id = `${feedCursorAt(ms)}#${this.processId}#${String(this.counter).padStart(8, '0')}`;
    const event: FeedEvent = {
      id,
      type: input.type,
      ...(input.interviewId !== undefined && { interviewId: input.interviewId }),
      ...(input.operationId !== undefined && { operationId: input.operationId }),
      data: input.data,
      ts: ms,
    };
    const item: FeedItem = {
      ...event,
      bucket: feedBucket(ms),
      expiresAt: Math.floor(ms / 1000) + this.ttlSeconds,
    };
    await this.db.send(new PutCommand({ TableName: this.table, Item: item }));
    return event;
  }

  async readSince(afterId: string, limit: number): Promise<FeedEvent[]> {
    const afterMs = feedIdTime(afterId);
    if (!Number.isFinite(afterMs)) throw new Error(`invalid feed cursor ${afterId}`);
    const now = this.now();
    const nowSec = Math.floor(now / 1000);
    const out: FeedEvent[] = [];
    // Buckets from the cursor's hour (clamped to the retention) up to the hour a writer whose
    // clock runs slightly ahead may already be writing to.
    let from = Math.max(afterMs, now - this.ttlSeconds * 1000);
    from -= from % HOUR_MS;
    for (let h = from; h <= now + FUTURE_SKEW_MS && out.length < limit; h += HOUR_MS) {
      const bucket = feedBucket(h);
      let start: Record<string, unknown> | undefined;
      do {
        const r = await this.db.send(
          new QueryCommand({
            TableName: this.table,
            KeyConditionExpression: '#b = :b AND id > :after',
            ExpressionAttributeNames: { '#b': 'bucket' }, // a reserved word
            ExpressionAttributeValues: { ':b': bucket, ':after': afterId },
            // A read right after a write must see it: history reads depend on it.
            ConsistentRead: true,
            Limit: limit - out.length,
            ExclusiveStartKey: start,
          }),
        );
        for (const item of (r.Items ?? []) as FeedItem[]) {
          if (item.expiresAt <= nowSec) continue;
          out.push(toEvent(item));
        }
        start = r.LastEvaluatedKey;
      } while (start && out.length < limit);
    }
    return out;
  }
}

function toEvent(item: FeedItem): FeedEvent {
  const { bucket: _b, expiresAt: _e, ...event } = item;
  return event;
}
