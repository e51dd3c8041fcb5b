import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { randomBytes } from 'node:crypto';
import { EventHub, operationTopic, type OperationLogReader } from '@/lib/events/hub';
import { EventFeed, type FeedEvent } from '@/lib/store/events';
import { OperationLogStore } from '@/lib/store/operation-logs';
import type { OperationEvent } from '@/lib/store/types';
import { startTestDb, type TestDb } from '../support/dynalite';
import { logEntry, until } from './support';

let t: TestDb;
let logs: OperationLogStore;
let feed: EventFeed;
const hubs: EventHub[] = [];

beforeAll(async () => {
  t = await startTestDb();
  logs = new OperationLogStore(t.db, t.tables.operationLogs);
  feed = new EventFeed({ db: t.db, table: t.tables.events, processId: 'local' });
});
afterAll(() => t.stop());
afterEach(() => {
  vi.useRealTimers();
  hubs.splice(0).forEach((h) => h.close());
});

/** The real log store, counting the reads the hub makes. */
function countingLogs() {
  const calls = { readAfter: 0, lastSeq: 0 };
  const reader: OperationLogReader = {
    readAfter: (id, after, limit) => (calls.readAfter++, logs.readAfter(id, after, limit)),
    lastSeq: (id) => (calls.lastSeq++, logs.lastSeq(id)),
  };
  return { calls, reader };
}

const newHub = (opts: Partial<ConstructorParameters<typeof EventHub>[0]> = {}) => {
  const hub = new EventHub({ logs, feed, pollMs: 0, ...opts });
  hubs.push(hub);
  return hub;
};
const newOpId = () => `op_${randomBytes(8).toString('hex')}`;
const seqs = (events: OperationEvent[]) => events.map((e) => e.seq);

describe('EventHub', () => {
  it('serves 1,000 subscribers of one topic with one store reader', async () => {
    const { calls, reader } = countingLogs();
    const hub = newHub({ logs: reader });
    const opId = newOpId();
    const received = Array.from({ length: 1000 }, () => [] as number[]);
    received.forEach((r) => hub.subscribe(operationTopic(opId), (e) => r.push(e.seq)));
    await hub.ready(operationTopic(opId));
    await logs.append(opId, [logEntry(1), logEntry(2), logEntry(3)], Date.now());
    await hub.poll();
    expect(calls).toEqual({ lastSeq: 1, readAfter: 2 }); // first read at subscribe, one per poll
    expect(received.every((r) => r.join() === '1,2,3')).toBe(true);
    expect(hub.stats()).toMatchObject({ operationTopics: 1, subscribers: 1000 });
  });

  it('delivers local publishes at once and stored events by catch-up, never twice or out of order', async () => {
    const hub = newHub();
    const opId = newOpId();
    const got: OperationEvent[] = [];
    hub.subscribe(operationTopic(opId), (e) => got.push(e));
    await hub.ready(operationTopic(opId));

    const b1 = [logEntry(1), logEntry(2)];
    await logs.append(opId, b1, Date.now());
    hub.operationEvents(opId, b1);
    expect(seqs(got)).toEqual([1, 2]); // synchronously

    await logs.append(opId, [logEntry(3), logEntry(4)], Date.now()); // another process
    await hub.poll();
    expect(seqs(got)).toEqual([1, 2, 3, 4]);
    hub.operationEvents(opId, [logEntry(3), logEntry(4)]); // a late duplicate
    await hub.poll();
    expect(seqs(got)).toEqual([1, 2, 3, 4]);

    // 5 was stored elsewhere and not published here: a local 6 must wait for it.
    await logs.append(opId, [logEntry(5)], Date.now());
    await logs.append(opId, [logEntry(6)], Date.now());
    hub.operationEvents(opId, [logEntry(6)]);
    expect(seqs(got)).toEqual([1, 2, 3, 4]);
    await until(() => got.length === 6);
    expect(seqs(got)).toEqual([1, 2, 3, 4, 5, 6]);
  });

  it('starts a new topic at the log end: history is the subscriber’s own read', async () => {
    const hub = newHub();
    const opId = newOpId();
    await logs.append(opId, [logEntry(1), logEntry(2)], Date.now());
    const got: OperationEvent[] = [];
    hub.subscribe(operationTopic(opId), (e) => got.push(e));
    await hub.ready(operationTopic(opId));
    await logs.append(opId, [logEntry(3)], Date.now());
    await hub.poll();
    expect(seqs(got)).toEqual([3]);
  });

  it('reads only topics that have subscribers', async () => {
    const { calls, reader } = countingLogs();
    const hub = newHub({ logs: reader });
    const opId = newOpId();
    const unsubscribe = hub.subscribe(operationTopic(opId), () => {});
    await hub.ready(operationTopic(opId));
    unsubscribe();
    const before = { ...calls };
    expect(await hub.poll()).toEqual({ topics: 0 });
    expect(calls).toEqual(before);
    expect(hub.stats()).toMatchObject({ operationTopics: 0, subscribers: 0 });
  });

  it('stops reading an operation once its end entry was delivered', async () => {
    const { calls, reader } = countingLogs();
    const hub = newHub({ logs: reader });
    const opId = newOpId();
    hub.subscribe(operationTopic(opId), () => {});
    await hub.ready(operationTopic(opId));
    await logs.append(
      opId,
      [logEntry(1), { seq: 2, ts: Date.now(), kind: 'end', status: 'completed' }],
      Date.now(),
    );
    await hub.poll();
    const reads = calls.readAfter;
    await hub.poll();
    expect(calls.readAfter).toBe(reads);
  });

  it('delivers a global event from a process whose clock lags, once', async () => {
    const hub = newHub({ lookbackMs: 2000 });
    const got: FeedEvent[] = [];
    hub.subscribe('global', (e) => got.push(e));
    await hub.poll(); // the read window moves to "now"
    const lagging = new EventFeed({
      db: t.db,
      table: t.tables.events,
      processId: 'lagging',
      now: () => Date.now() - 1500,
    });
    const late = await lagging.append({
      type: 'interview.updated',
      interviewId: 'iv_1',
      data: { n: 1 },
    });
    await hub.global({ type: 'interview.updated', interviewId: 'iv_2', data: { n: 2 } });
    expect(got.map((e) => e.interviewId)).toEqual(['iv_2']); // local: at once
    await hub.poll();
    await hub.poll();
    expect(got.map((e) => e.interviewId)).toEqual(['iv_2', 'iv_1']);
    expect(got[1]!.id).toBe(late.id);
  });

  it('misses such an event without the lookback window (why it exists)', async () => {
    const hub = newHub({ lookbackMs: 0 });
    const got: FeedEvent[] = [];
    hub.subscribe('global', (e) => got.push(e));
    await hub.poll();
    const lagging = new EventFeed({
      db: t.db,
      table: t.tables.events,
      processId: 'lagging',
      now: () => Date.now() - 1500,
    });
    await lagging.append({ type: 'interview.updated', interviewId: 'iv_3', data: {} });
    await hub.poll();
    expect(got).toEqual([]);
  });

  it('polls on its timer only while someone subscribes, and close() clears it', () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    const hub = newHub({ pollMs: 500 });
    expect(vi.getTimerCount()).toBe(0);
    hub.subscribe('global', () => {});
    expect(vi.getTimerCount()).toBe(1);
    hub.close();
    expect(vi.getTimerCount()).toBe(0);
    expect(() => hub.subscribe('global', () => {})).toThrow(/closed/);
  });
});
