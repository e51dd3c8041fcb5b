import type { FeedEvent, FeedReader } from '../store/events';
import { feedCursorAt, feedIdTime } from '../store/events';
import type { OperationEvent } from '../store/types';
import type { EventPublisher, GlobalEventInput } from './publisher';

/** The subset of the operation log store the hub and the SSE streams need. */
export interface OperationLogReader {
  /** Entries with seq > afterSeq, in seq order, at most `limit`. Must read its own writes. */
  readAfter(operationId: string, afterSeq: number, limit: number): Promise<OperationEvent[]>;
  /** The highest stored seq (0, null or undefined when there is none). */
  lastSeq(operationId: string): Promise<number | null | undefined>;
}

/** The subset of the feed store the hub needs: read ranges, append. */
export interface FeedStore extends FeedReader {
  append(input: GlobalEventInput): Promise<FeedEvent>;
}

export type OperationTopic = `op:${string}`;
export type Topic = OperationTopic | 'global';
export const operationTopic = (operationId: string): OperationTopic => `op:${operationId}`;

export type Unsubscribe = () => void;
type Listener<E> = (event: E) => void;

export interface EventHubOptions {
  logs: OperationLogReader;
  feed: FeedStore;
  /** Catch-up reads of watched topics, in ms (default 500). 0: no timer; call `poll()` yourself. */
  pollMs?: number;
  /** How far behind its cursor the global catch-up re-reads, for clock skew (default 2000 ms). */
  lookbackMs?: number;
  /** Items per store read (default 500). */
  pageSize?: number;
  /** Store reads per topic per poll at most (default 20); the next poll continues. */
  maxPagesPerPoll?: number;
  /** Topics read at once during a poll (default 16). */
  concurrency?: number;
  now?: () => number;
  log?: { warn(obj: object, msg?: string): void };
}

export interface HubStats {
  operationTopics: number;
  globalSubscribers: number;
  subscribers: number;
  storeReads: number;
  readErrors: number;
  delivered: number;
  pollMs: number;
  lastPollAt?: number;
}

interface Deferred {
  promise: Promise<void>;
  resolve(): void;
  reject(e: unknown): void;
}

interface OpTopic {
  kind: 'op';
  operationId: string;
  listeners: Set<Listener<OperationEvent>>;
  /** Highest seq delivered, or the log's last seq when the topic started (history is the subscribers' job). */
  cursor: number | undefined;
  initialized: boolean;
  ready: Deferred;
  ended: boolean;
  inFlight: boolean;
  again: boolean;
}

interface GlobalTopic {
  kind: 'global';
  listeners: Set<Listener<FeedEvent>>;
  /** Local time at which the last complete read started; the next read starts `lookbackMs` before it. */
  readFrom: number;
  /** Ids delivered whose time is inside the re-read window (id → ms). */
  seen: Map<string, number>;
  inFlight: boolean;
}

/**
 * The process's one event hub (DESIGN "Events (SSE) across processes"). Route handlers
 * subscribe here, never to the store, so any number of subscribers to a topic cost one reader.
 *
 * Topics: `op:<operationId>` (the operation's log entries, by seq) and `global` (the change
 * feed). Events this process publishes are delivered at once; events other processes store
 * arrive through catch-up reads every `pollMs`, and only for topics that have subscribers.
 * A listener never sees an event twice, and per operation it sees seqs strictly increasing.
 *
 * What a listener gets starts at its topic's position when it subscribed: a subscriber that
 * needs history awaits `ready(topic)` after subscribing and then reads the store itself (the
 * order that loses nothing; see `sse.ts`). Listeners are called synchronously and must not throw
 * or block; they run in publish order for one topic.
 */
export class EventHub implements EventPublisher {
  private readonly logs: OperationLogReader;
  private readonly feed: FeedStore;
  private readonly pollMs: number;
  private readonly lookbackMs: number;
  private readonly pageSize: number;
  private readonly maxPages: number;
  private readonly concurrency: number;
  private readonly now: () => number;
  private readonly log?: EventHubOptions['log'];
  private readonly ops = new Map<string, OpTopic>();
  private globalTopic: GlobalTopic | undefined;
  private timer: NodeJS.Timeout | undefined;
  private closed = false;
  private counters = { storeReads: 0, readErrors: 0, delivered: 0 };
  private lastPollAt: number | undefined;

  constructor(opts: EventHubOptions) {
    this.logs = opts.logs;
    this.feed = opts.feed;
    this.pollMs = opts.pollMs ?? 500;
    this.lookbackMs = opts.lookbackMs ?? 2000;
    this.pageSize = opts.pageSize ?? 500;
    this.maxPages = opts.maxPagesPerPoll ?? 20;
    this.concurrency = opts.concurrency ?? 16;
    this.now = opts.now ?? Date.now;
    this.log = opts.log;
  }

  subscribe(topic: 'global', listener: Listener<FeedEvent>): Unsubscribe;
  subscribe(topic: OperationTopic, listener: Listener<OperationEvent>): Unsubscribe;
  subscribe(topic: Topic, listener: Listener<FeedEvent> | Listener<OperationEvent>): Unsubscribe {
    if (this.closed) throw new Error('event hub is closed');
    if (topic === 'global') {
      const t = (this.globalTopic ??= {
        kind: 'global',
        listeners: new Set(),
        readFrom: this.now(),
        seen: new Map(),
        inFlight: false,
      });
      const l = listener as Listener<FeedEvent>;
      t.listeners.add(l);
      this.schedule();
      return () => {
        t.listeners.delete(l);
        if (t.listeners.size === 0 && this.globalTopic === t) this.globalTopic = undefined;
      };
    }
    const operationId = topic.slice(3);
    let t = this.ops.get(operationId);
    if (!t) {
      t = {
        kind: 'op',
        operationId,
        listeners: new Set(),
        cursor: undefined,
        initialized: false,
        ready: deferred(),
        ended: false,
        inFlight: false,
        again: false,
      };
      this.ops.set(operationId, t);
      void this.readOperation(t);
    }
    const l = listener as Listener<OperationEvent>;
    t.listeners.add(l);
    this.schedule();
    const topicState = t;
    return () => {
      topicState.listeners.delete(l);
      if (topicState.listeners.size === 0 && this.ops.get(operationId) === topicState) {
        this.ops.delete(operationId);
      }
    };
  }

  /**
   * Resolves once the topic has its starting position: every event stored after that is
   * delivered to its listeners. Rejects if the first store read fails (the next poll retries).
   */
  ready(topic: Topic): Promise<void> {
    if (topic === 'global') {
      return this.globalTopic ? Promise.resolve() : Promise.reject(new Error('not subscribed'));
    }
    const t = this.ops.get(topic.slice(3));
    return t ? t.ready.promise : Promise.reject(new Error('not subscribed'));
  }

  /** Producers call this after storing the entries (I7). Delivers at once, in seq order. */
  operationEvents(operationId: string, events: OperationEvent[]): void {
    const t = this.ops.get(operationId);
    if (!t || events.length === 0) return;
    const sorted = [...events].sort((a, b) => a.seq - b.seq);
    for (const e of sorted) {
      if (t.cursor !== undefined && e.seq <= t.cursor) continue;
      if (t.initialized && t.cursor !== undefined && e.seq !== t.cursor + 1) {
        // Entries between the cursor and this one went through another path (another process
        // or a publish we have not seen yet): read them from the store, in order.
        void this.readOperation(t);
        return;
      }
      this.deliverOperation(t, e);
    }
  }

  /** Stores a change in the feed, then delivers it to this process's global subscribers. */
  async global(input: GlobalEventInput): Promise<void> {
    const event = await this.feed.append(input);
    if (this.globalTopic) this.deliverGlobal(this.globalTopic, event);
  }

  /** One catch-up round over every watched topic. Called by the timer; tests call it directly. */
  async poll(): Promise<{ topics: number }> {
    this.lastPollAt = this.now();
    const jobs: (() => Promise<void>)[] = [];
    for (const t of this.ops.values()) if (!t.ended) jobs.push(() => this.readOperation(t));
    const g = this.globalTopic;
    if (g) jobs.push(() => this.readGlobal(g));
    let next = 0;
    const worker = async () => {
      while (next < jobs.length) await jobs[next++]!();
    };
    await Promise.all(Array.from({ length: Math.min(this.concurrency, jobs.length) }, worker));
    return { topics: jobs.length };
  }

  stats(): HubStats {
    let subscribers = 0;
    for (const t of this.ops.values()) subscribers += t.listeners.size;
    const globalSubscribers = this.globalTopic?.listeners.size ?? 0;
    return {
      operationTopics: this.ops.size,
      globalSubscribers,
      subscribers: subscribers + globalSubscribers,
      ...this.counters,
      pollMs: this.pollMs,
      ...(this.lastPollAt !== undefined && { lastPollAt: this.lastPollAt }),
    };
  }

  /** Stops the timer; subscriptions stop receiving events from other processes. */
  close(): void {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }

  /** Polls every `pollMs` from the start of the previous poll (a slow read does not add up). */
  private schedule(delay = this.pollMs): void {
    if (this.timer || this.closed || this.pollMs <= 0) return;
    if (this.ops.size === 0 && !this.globalTopic) return;
    this.timer = setTimeout(() => {
      const started = performance.now();
      void this.poll().finally(() => {
        this.timer = undefined;
        this.schedule(Math.max(0, this.pollMs - (performance.now() - started)));
      });
    }, delay);
    this.timer.unref();
  }

  private async readOperation(t: OpTopic): Promise<void> {
    if (t.inFlight) {
      t.again = true;
      return;
    }
    t.inFlight = true;
    try {
      if (!t.initialized) {
        this.counters.storeReads++;
        const last = (await this.logs.lastSeq(t.operationId)) ?? 0;
        // Local publishes may have been delivered meanwhile: never move back.
        t.cursor = Math.max(last, t.cursor ?? 0);
        t.initialized = true;
        t.ready.resolve();
      }
      for (
        let page = 0;
        page < this.maxPages && !t.ended && this.ops.get(t.operationId) === t;
        page++
      ) {
        this.counters.storeReads++;
        const events = await this.logs.readAfter(t.operationId, t.cursor ?? 0, this.pageSize);
        // The store is the truth: deliver what it returns, in order, skipping what we sent.
        for (const e of events) {
          if (e.seq > (t.cursor ?? 0)) this.deliverOperation(t, e);
        }
        if (events.length < this.pageSize) break;
      }
    } catch (e) {
      this.counters.readErrors++;
      this.log?.warn(
        { err: e, operationId: t.operationId },
        'event hub: operation log read failed',
      );
      if (!t.initialized) {
        t.ready.reject(e);
        t.ready = deferred();
      }
    } finally {
      t.inFlight = false;
      if (t.again && !this.closed && this.ops.get(t.operationId) === t) {
        t.again = false;
        void this.readOperation(t);
      }
    }
  }

  private deliverOperation(t: OpTopic, e: OperationEvent): void {
    t.cursor = e.seq;
    if (e.kind === 'end') t.ended = true;
    for (const listener of t.listeners) this.call(listener, e);
  }

  private async readGlobal(t: GlobalTopic): Promise<void> {
    if (t.inFlight) return;
    t.inFlight = true;
    const startedAt = this.now();
    try {
      let after = feedCursorAt(t.readFrom - this.lookbackMs);
      let complete = false;
      for (let page = 0; page < this.maxPages && this.globalTopic === t; page++) {
        this.counters.storeReads++;
        const events = await this.feed.readSince(after, this.pageSize);
        for (const e of events) this.deliverGlobal(t, e);
        if (events.length < this.pageSize) {
          complete = true;
          break;
        }
        after = events[events.length - 1]!.id;
      }
      // Next time start `lookbackMs` before this read (or continue where a capped read stopped).
      t.readFrom = complete ? startedAt : Math.max(t.readFrom, feedIdTime(after) + this.lookbackMs);
      const horizon = t.readFrom - this.lookbackMs;
      for (const [id, ms] of t.seen) if (ms < horizon) t.seen.delete(id);
    } catch (e) {
      this.counters.readErrors++;
      this.log?.warn({ err: e }, 'event hub: feed read failed');
    } finally {
      t.inFlight = false;
    }
  }

  private deliverGlobal(t: GlobalTopic, e: FeedEvent): void {
    if (t.seen.has(e.id)) return;
    t.seen.set(e.id, feedIdTime(e.id));
    for (const listener of t.listeners) this.call(listener, e);
  }

  private call<E>(listener: Listener<E>, e: E): void {
    this.counters.delivered++;
    try {
      listener(e);
    } catch (err) {
      this.log?.warn({ err }, 'event hub: listener threw');
    }
  }
}

function deferred(): Deferred {
  let resolve!: () => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<void>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  promise.catch(() => {}); // a rejection nobody awaits must not crash the process
  return { promise, resolve, reject };
}
