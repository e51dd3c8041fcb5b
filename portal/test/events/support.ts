import { createParser, type EventSourceMessage } from 'eventsource-parser';
import type { OperationRecord, OperationEvent, OperationStatus } from '@/lib/store/types';
import { OperationStore } from '@/lib/store/operations';

/** A client reading an SSE Response body the way a browser would (eventsource-parser). */
export interface SseClient {
  events: EventSourceMessage[];
  comments: string[];
  retry?: number;
  /** Resolves when the body ends: `closed` (server closed), `errored` (dropped), `cancelled`. */
  finished: Promise<'closed' | 'errored' | 'cancelled'>;
  /** Resolves once `pred()` holds (checked after every message); rejects after `ms`. */
  waitFor(pred: () => boolean, ms?: number, what?: string): Promise<void>;
  /** Disconnects like a browser tab closing: aborts the request and cancels the body. */
  disconnect(): Promise<void>;
  lastEventId(): string | undefined;
}

export function readSse(response: Response, abort?: AbortController): SseClient {
  const events: EventSourceMessage[] = [];
  const comments: string[] = [];
  const waiters = new Set<() => void>();
  const notify = () => waiters.forEach((w) => w());
  let cancelled = false;
  const client: SseClient = {
    events,
    comments,
    finished: undefined as never,
    waitFor(pred, ms = 5000, what = 'condition') {
      if (pred()) return Promise.resolve();
      return new Promise((resolve, reject) => {
        const check = () => {
          if (!pred()) return;
          clearTimeout(timer);
          waiters.delete(check);
          resolve();
        };
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(new Error(`timed out waiting for ${what} (${events.length} events)`));
        }, ms);
        waiters.add(check);
      });
    },
    async disconnect() {
      cancelled = true;
      abort?.abort();
      await reader.cancel().catch(() => {});
    },
    lastEventId() {
      for (let i = events.length - 1; i >= 0; i--)
        if (events[i]!.id !== undefined) return events[i]!.id;
      return undefined;
    },
  };
  const parser = createParser({
    onEvent: (e) => {
      events.push(e);
      notify();
    },
    onComment: (c) => {
      comments.push(c);
      notify();
    },
    onRetry: (ms) => {
      client.retry = ms;
      notify();
    },
  });
  const reader = response.body!.getReader();
  const decoder = new TextDecoder();
  client.finished = (async () => {
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) return cancelled ? 'cancelled' : 'closed';
        parser.feed(decoder.decode(value, { stream: true }));
      }
    } catch {
      return cancelled ? 'cancelled' : 'errored';
    } finally {
      notify();
    }
  })();
  return client;
}

/** Builds the request a browser sends to an SSE endpoint. */
export function sseRequest(
  url: string,
  opts: { lastEventId?: string; signal?: AbortSignal; headers?: Record<string, string> } = {},
): Request {
  return new Request(url, {
    headers: {
      accept: 'text/event-stream',
      ...(opts.lastEventId !== undefined && { 'last-event-id': opts.lastEventId }),
      ...opts.headers,
    },
    signal: opts.signal,
  });
}

export function logEntry(seq: number, extra: Partial<OperationEvent> = {}): OperationEvent {
  return { seq, ts: Date.now(), kind: 'log', level: 'info', message: `line ${seq}`, ...extra };
}

export function endEntry(seq: number, status: OperationStatus = 'completed'): OperationEvent {
  return { seq, ts: Date.now(), kind: 'end', status };
}

/** Stores a minimal operation record so the stream's status reader finds it. */
export async function putOperation(
  ops: OperationStore,
  id: string,
  status: OperationStatus = 'running',
): Promise<OperationRecord> {
  const now = Date.now();
  const op: OperationRecord = {
    id,
    interviewId: `iv_${id}`,
    type: 'create',
    status,
    scheduledAt: now,
    attempt: 1,
    version: 1,
    createdAt: now,
  };
  await ops.put(op);
  return op;
}

/** Seqs of received events with an id (what a client would have resumed from). */
export const seqsOf = (events: EventSourceMessage[]) =>
  events.filter((e) => e.id !== undefined && e.event !== 'end').map((e) => Number(e.id));

/** Resolves once `pred()` holds, checking every few ms; rejects after `ms`. */
export async function until(pred: () => boolean, ms = 2000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + ms;
  while (!pred()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}
