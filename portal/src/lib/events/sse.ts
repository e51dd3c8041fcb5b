import { z } from 'zod';
import { badRequest, notFound } from '../http/errors';
import {
  FEED_ID_PATTERN,
  FEED_TTL_SECONDS,
  feedIdTime,
  type FeedEvent,
  type FeedReader,
} from '../store/events';
import { isTerminal, type OperationEvent, type OperationRecord } from '../store/types';
import { operationTopic, type EventHub, type OperationLogReader } from './hub';
import { SSE_HEADERS, SseChannel, sseFrame } from './sse-channel';

/** The `?lastEventId=` of a resumable feed stream (the `Last-Event-ID` header works too). */
export const feedResumeQuery = z.object({
  lastEventId: z.string().regex(FEED_ID_PATTERN, 'must be an event id from this stream').optional(),
});

/**
 * SSE responses for an operation's log (`id:` = seq) and for the global change feed
 * (`id:` = feed id). Both follow the order that loses nothing (I7): subscribe to the hub first
 * and buffer, then read the store after the client's Last-Event-ID, then flush the buffer
 * skipping what was sent, then follow live.
 */

/** The subset of the operations store the operation stream needs (null: unknown or expired). */
export interface OperationStatusReader {
  get(id: string, now: number): Promise<Pick<OperationRecord, 'status'> | null>;
}

export interface SseOptions {
  /** Comment line interval (default 15 s). */
  heartbeatMs?: number;
  /** Bytes queued for a slow client before it is dropped (default 1 MiB). */
  maxQueuedBytes?: number;
  /** Store page size for history reads (default 500). */
  historyPageSize?: number;
  /** Live events buffered while history is read (default 10,000; past it: re-read or drop). */
  maxBuffered?: number;
  /** Global stream: most history events sent on resume before `event: reset` (default 5,000). */
  maxHistory?: number;
  /** Terminal operation without an `end` entry: wait this long for one, then end anyway (1 s). */
  endGraceMs?: number;
  retryMs?: number;
  log?: { warn(obj: object, msg?: string): void };
}

type Hub = Pick<EventHub, 'subscribe' | 'ready'>;

/** The stores SSE streams read history from (narrow views; the runtime holds one set). */
export interface EventSources {
  logs: Pick<OperationLogReader, 'readAfter'>;
  feed: FeedReader;
  operations: OperationStatusReader;
}

const DEFAULTS = {
  heartbeatMs: 15_000,
  maxQueuedBytes: 1024 * 1024,
  historyPageSize: 500,
  maxBuffered: 10_000,
  maxHistory: 5_000,
  endGraceMs: 1_000,
};

/**
 * Hub events are shared by every subscriber: encode each once, not once per connection. One cache
 * per way of framing an event (a stream that frames events differently needs its own).
 */
export function frameCache(): (event: object, make: () => Uint8Array) => Uint8Array {
  const frames = new WeakMap<object, Uint8Array>();
  return (event, make) => {
    let f = frames.get(event);
    if (!f) frames.set(event, (f = make()));
    return f;
  };
}
const cachedFrame = frameCache();
const operationFrame = (e: OperationEvent) =>
  cachedFrame(e, () => sseFrame(String(e.seq), e.kind, e));
const feedFrame = (e: FeedEvent) => cachedFrame(e, () => sseFrame(e.id, e.type, e));

/** The client's resume point: the `Last-Event-ID` header (browsers), else `?lastEventId=`. */
export function lastEventId(request: Request): { value: string; field: string } | undefined {
  const header = request.headers.get('last-event-id');
  if (header !== null && header.trim() !== '')
    return { value: header.trim(), field: 'headers.last-event-id' };
  const query = new URL(request.url).searchParams.get('lastEventId');
  if (query !== null && query !== '') return { value: query, field: 'query.lastEventId' };
  return undefined;
}

function resumeSeq(request: Request): number {
  const last = lastEventId(request);
  if (!last) return 0;
  if (!/^\d{1,15}$/.test(last.value)) {
    throw badRequest('Invalid Last-Event-ID', { [last.field]: 'must be a sequence number' });
  }
  return Number(last.value);
}

function resumeFeedId(request: Request): string | undefined {
  const last = lastEventId(request);
  if (!last) return undefined;
  if (!FEED_ID_PATTERN.test(last.value)) {
    throw badRequest('Invalid Last-Event-ID', {
      [last.field]: 'must be an event id from this stream',
    });
  }
  return last.value;
}

export interface OperationStreamDeps {
  hub: Hub;
  logs: Pick<OperationLogReader, 'readAfter'>;
  operations: OperationStatusReader;
}

/**
 * The live log of one operation. Every entry is sent as `id: <seq>`, `event: <kind>`
 * (`log` | `status` | `end`), `data: <entry JSON>`. The `end` entry carries the final status and
 * closes the stream; an operation already terminal on connect gets its remaining history and
 * `end`, then the stream closes. Throws ApiError 400 (bad Last-Event-ID) or 404 (unknown).
 */
export async function operationEventStream(
  request: Request,
  operationId: string,
  deps: OperationStreamDeps,
  options: SseOptions = {},
): Promise<Response> {
  const opts = { ...DEFAULTS, ...options };
  let lastSent = resumeSeq(request);
  const op = await deps.operations.get(operationId, Date.now());
  if (!op) throw notFound('Operation');

  const topic = operationTopic(operationId);
  const channel = new SseChannel({ signal: request.signal, ...opts });
  let mode: 'catching-up' | 'live' = 'catching-up';
  let buffered: OperationEvent[] = [];
  let missedWhileBuffering = false;
  let ended = false;

  const send = (e: OperationEvent) => {
    if (e.kind === 'end') return void sendEnd(e);
    lastSent = e.seq;
    channel.send(operationFrame(e));
  };

  const sendEnd = async (e: OperationEvent | undefined) => {
    if (ended) return;
    ended = true;
    if (e) lastSent = e.seq;
    try {
      const status =
        e?.status ?? (await deps.operations.get(operationId, Date.now()))?.status ?? op.status;
      // The real `end` entry keeps its id; a synthesized one has none, so a resume re-asks.
      channel.send(
        sseFrame(e ? String(e.seq) : undefined, 'end', {
          ...(e ?? { kind: 'end', seq: lastSent }),
          status,
        }),
      );
    } catch (err) {
      opts.log?.warn({ err, operationId }, 'operation event stream: final status read failed');
    } finally {
      channel.close();
    }
  };

  const catchUp = async (first: boolean) => {
    try {
      for (;;) {
        missedWhileBuffering = false;
        for (;;) {
          await channel.writable();
          if (channel.closed || ended) return;
          const page = await deps.logs.readAfter(operationId, lastSent, opts.historyPageSize);
          for (const e of page) {
            if (channel.closed || ended) return;
            if (e.seq > lastSent) send(e);
          }
          if (page.length < opts.historyPageSize) break;
        }
        // Everything buffered was stored before it was published: what history did not cover
        // follows it directly, unless the buffer overflowed or has a hole (then read again).
        const pending = buffered;
        buffered = [];
        let hole = false;
        for (const e of pending) {
          if (channel.closed || ended) return;
          if (e.seq <= lastSent) continue;
          if (e.seq !== lastSent + 1) {
            hole = true;
            break;
          }
          send(e);
        }
        if (!hole && !missedWhileBuffering) break;
      }
      mode = 'live';
      if (first && isTerminal(op.status) && !ended) {
        // Terminal but no `end` entry yet: the writer may store it right after the status.
        const timer = setTimeout(() => void sendEnd(undefined), opts.endGraceMs);
        channel.onClose(() => clearTimeout(timer));
      }
    } catch (err) {
      opts.log?.warn({ err, operationId }, 'operation event stream: history read failed');
      // The client reconnects with its Last-Event-ID and resumes.
      channel.fail(err instanceof Error ? err : new Error(String(err)));
    }
  };

  const unsubscribe = deps.hub.subscribe(topic, (e) => {
    if (ended || channel.closed) return;
    if (mode === 'live') {
      if (e.seq <= lastSent) return;
      if (e.seq === lastSent + 1) return send(e);
      mode = 'catching-up';
      buffered.push(e);
      void catchUp(false);
      return;
    }
    if (buffered.length < opts.maxBuffered) buffered.push(e);
    else missedWhileBuffering = true;
  });
  const ready = deps.hub.ready(topic); // before onClose: an aborted request unsubscribes at once
  channel.onClose(unsubscribe);
  try {
    await ready;
  } catch (e) {
    channel.close();
    throw e;
  }
  void catchUp(true);
  return new Response(channel.stream, { headers: SSE_HEADERS });
}

export interface GlobalStreamDeps {
  hub: Hub;
  feed: FeedReader;
  /** Only these events (history and live), e.g. one interview's. Default: all. */
  select?: (e: FeedEvent) => boolean;
  /**
   * How an event is framed (default: the whole FeedEvent as `data`). Streams that show less —
   * the candidate's — pass their own, cached per event like the default.
   */
  frame?: (e: FeedEvent) => Uint8Array;
  /** A frame sent before anything else (no `id:`, so it never moves the client's resume point). */
  initial?: () => Promise<Uint8Array | undefined>;
}

/** How long history ids are remembered to skip the hub delivering the same events again. */
const HISTORY_DEDUP_MS = 30_000;

/**
 * The global change feed: `id: <feed id>`, `event: <type>`, `data: <FeedEvent JSON>`. On resume
 * it sends the stored events after Last-Event-ID first; if the gap is older than the feed's
 * retention or larger than `maxHistory`, it sends `event: reset` (refetch state) and goes live.
 * Last-Event-ID is a cursor: only ids after it are sent. Limit: an event whose writer's clock
 * lagged so far that its id sorts before the client's Last-Event-ID, stored while the client
 * was away, is not replayed; events carry full state, so the next change of that item
 * repairs the view. (Operation streams have gap-free seqs and no such limit.)
 */
export async function globalEventStream(
  request: Request,
  deps: GlobalStreamDeps,
  options: SseOptions = {},
): Promise<Response> {
  const opts = { ...DEFAULTS, ...options };
  const after = resumeFeedId(request);
  const select = deps.select ?? (() => true);
  const frame = deps.frame ?? feedFrame;
  const sentHistory = new Map<string, number>();
  const channel = new SseChannel({
    signal: request.signal,
    ...opts,
    onHeartbeat: () => {
      const horizon = Date.now() - HISTORY_DEDUP_MS;
      for (const [id, ms] of sentHistory) if (ms < horizon) sentHistory.delete(id);
    },
  });
  let mode: 'catching-up' | 'live' = 'catching-up';
  let buffered: FeedEvent[] = [];
  // Last-Event-ID is this stream's cursor: the hub's first reads re-read a window that may
  // hold the client's own last events, and history may be delivered again by the hub.
  const isNew = (e: FeedEvent) =>
    (after === undefined || e.id > after) && !sentHistory.has(e.id) && select(e);

  const unsubscribe = deps.hub.subscribe('global', (e) => {
    if (channel.closed || !select(e)) return;
    if (mode === 'live') {
      if (isNew(e)) channel.send(frame(e));
    } else if (buffered.length < opts.maxBuffered) {
      buffered.push(e);
    } else {
      // Feed ids are not gap-free, so a lost buffer cannot be re-read: let the client resume.
      channel.fail(new Error('global event stream: buffer overflow during history'));
    }
  });
  const ready = deps.hub.ready('global');
  channel.onClose(unsubscribe);
  await ready;

  const catchUp = async () => {
    try {
      const first = await deps.initial?.();
      if (first && !channel.closed) channel.send(first);
      if (after !== undefined) {
        let cursor = after;
        let sent = 0;
        let reset = feedIdTime(after) < Date.now() - FEED_TTL_SECONDS * 1000;
        while (!reset) {
          await channel.writable();
          if (channel.closed) return;
          const page = await deps.feed.readSince(cursor, opts.historyPageSize);
          for (const e of page) {
            if (!select(e)) continue;
            sentHistory.set(e.id, feedIdTime(e.id));
            channel.send(frame(e));
          }
          sent += page.length;
          if (page.length < opts.historyPageSize) break;
          cursor = page[page.length - 1]!.id;
          if (sent >= opts.maxHistory) reset = true;
        }
        if (reset)
          channel.send(sseFrame(undefined, 'reset', { reason: 'too far behind: refetch' }));
      }
      const pending = buffered;
      buffered = [];
      for (const e of pending) if (isNew(e)) channel.send(frame(e));
      mode = 'live';
    } catch (err) {
      opts.log?.warn({ err }, 'global event stream: history read failed');
      channel.fail(err instanceof Error ? err : new Error(String(err)));
    }
  };
  void catchUp();
  return new Response(channel.stream, { headers: SSE_HEADERS });
}
