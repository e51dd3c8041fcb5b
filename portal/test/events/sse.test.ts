import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import { EventHub } from '@/lib/events/hub';
import { operationEventStream, type SseOptions } from '@/lib/events/sse';
import { EventFeed } from '@/lib/store/events';
import { OperationLogStore } from '@/lib/store/operation-logs';
import { OperationStore } from '@/lib/store/operations';
import { startTestDb, type TestDb } from '../support/dynalite';
import {
  endEntry,
  logEntry,
  putOperation,
  readSse,
  seqsOf,
  sseRequest,
  until,
  type SseClient,
} from './support';

let t: TestDb;
let logs: OperationLogStore;
let ops: OperationStore;
let feed: EventFeed;
const hubs: EventHub[] = [];

beforeAll(async () => {
  t = await startTestDb();
  logs = new OperationLogStore(t.db, t.tables.operationLogs);
  ops = new OperationStore(t.db, t.tables.operations);
  feed = new EventFeed({ db: t.db, table: t.tables.events });
});
afterAll(() => t.stop());
afterEach(() => hubs.splice(0).forEach((h) => h.close()));

const newHub = (pollMs: number) => {
  const hub = new EventHub({ logs, feed, pollMs });
  hubs.push(hub);
  return hub;
};
const newOpId = () => `op_${randomBytes(8).toString('hex')}`;

function connect(hub: EventHub, opId: string, lastEventId?: string, options: SseOptions = {}) {
  const abort = new AbortController();
  const request = sseRequest(`http://portal.test/api/operations/${opId}/events`, {
    lastEventId,
    signal: abort.signal,
  });
  return operationEventStream(request, opId, { hub, logs, operations: ops }, options).then((r) =>
    readSse(r, abort),
  );
}

/** Appends entries one batch at a time, like the lease holder's LogWriter (store, then publish). */
async function write(
  hub: EventHub | undefined,
  opId: string,
  entries: ReturnType<typeof logEntry>[],
) {
  await logs.append(opId, entries, Date.now());
  hub?.operationEvents(opId, entries);
}

describe('operation event stream', () => {
  it('resumes with Last-Event-ID across forced disconnects without losing or duplicating a line', async () => {
    const hub = newHub(40);
    const opId = newOpId();
    await putOperation(ops, opId);
    const N = 240;
    // The writer keeps appending (batches of 1-3; only some published locally, the rest reach
    // the hub through its catch-up reads) while the client disconnects and reconnects.
    const writer = (async () => {
      let seq = 0;
      while (seq < N) {
        const n = Math.min(N - seq, 1 + (seq % 3));
        const batch = Array.from({ length: n }, () => logEntry(++seq));
        await write(seq % 2 === 0 ? hub : undefined, opId, batch);
        await new Promise((r) => setImmediate(r));
      }
      await write(hub, opId, [endEntry(N + 1)]);
    })();

    const received: number[] = [];
    let lastId: string | undefined;
    let reconnects = 0;
    let sawEnd = false;
    while (!sawEnd) {
      const client = await connect(hub, opId, lastId);
      const target = 15 + (reconnects % 4) * 10;
      await client.waitFor(
        () => client.events.length >= target || client.events.some((e) => e.event === 'end'),
        10_000,
        `${target} events`,
      );
      sawEnd = client.events.some((e) => e.event === 'end');
      if (!sawEnd) await client.disconnect();
      else expect(await client.finished).toBe('closed');
      received.push(...seqsOf(client.events));
      lastId = client.lastEventId() ?? lastId;
      reconnects++;
    }
    await writer;
    expect(reconnects).toBeGreaterThan(4);
    expect(received).toEqual(Array.from({ length: N }, (_, i) => i + 1));
    expect(hub.stats().subscribers).toBe(0);
  });

  it('has no gap when events are appended while clients connect (subscribe, then history)', async () => {
    // No timer: after connect, events reach the stream only through local publishes, so any
    // publish between "read history" and "subscribe" would be lost if the order were wrong.
    const hub = newHub(0);
    const opId = newOpId();
    await putOperation(ops, opId);
    const warm = hub.subscribe(`op:${opId}`, () => {}); // the topic already has a cursor
    await hub.ready(`op:${opId}`);
    const N = 150;
    const clients: { from: number; client: Promise<SseClient> }[] = [];
    for (let seq = 1; seq <= N; seq++) {
      if (seq % 15 === 0) {
        const from = Math.max(0, seq - 7);
        clients.push({ from, client: connect(hub, opId, from === 0 ? undefined : String(from)) });
      }
      await write(hub, opId, [logEntry(seq)]);
    }
    await write(hub, opId, [endEntry(N + 1)]);
    for (const { from, client } of clients) {
      const c = await client;
      expect(await c.finished).toBe('closed');
      expect(seqsOf(c.events)).toEqual(Array.from({ length: N - from }, (_, i) => from + i + 1));
      expect(c.events.at(-1)).toMatchObject({ event: 'end', id: String(N + 1) });
    }
    warm();
  });

  it('delivers an event stored right after the history read, with no later event to reveal it', async () => {
    // The history read is held open after its snapshot while the writer stores and publishes
    // one entry: only the subscribe-before-history order (with buffering) delivers it; a later
    // event would otherwise reveal the hole and trigger a re-read, so none follows.
    const hub = newHub(0);
    const opId = newOpId();
    await putOperation(ops, opId);
    const warm = hub.subscribe(`op:${opId}`, () => {});
    await hub.ready(`op:${opId}`);
    let snapshotTaken: () => void = () => {};
    let release: () => void = () => {};
    const gatedLogs = {
      async readAfter(id: string, after: number, limit: number) {
        const page = await logs.readAfter(id, after, limit);
        snapshotTaken();
        await new Promise<void>((r) => (release = r));
        return page;
      },
    };
    for (let seq = 1; seq <= 3; seq++) {
      const snapshot = new Promise<void>((r) => (snapshotTaken = r));
      const abort = new AbortController();
      const url = `http://portal.test/api/operations/${opId}/events`;
      const request = sseRequest(url, { lastEventId: String(seq - 1), signal: abort.signal });
      const response = await operationEventStream(request, opId, {
        hub,
        logs: gatedLogs,
        operations: ops,
      });
      const c = readSse(response, abort);
      await snapshot;
      await write(hub, opId, [logEntry(seq)]);
      release();
      await c.waitFor(() => c.events.some((e) => e.id === String(seq)), 1000, `seq ${seq}`);
      expect(seqsOf(c.events)).toEqual([seq]);
      await c.disconnect();
    }
    warm();
  });

  it('sends heartbeat comments while idle', async () => {
    const hub = newHub(0);
    const opId = newOpId();
    await putOperation(ops, opId);
    const c = await connect(hub, opId, undefined, { heartbeatMs: 25 });
    await c.waitFor(
      () => c.comments.filter((x) => x.includes('heartbeat')).length >= 3,
      2000,
      'heartbeats',
    );
    expect(c.retry).toBe(2000);
    await c.disconnect();
    expect(hub.stats().subscribers).toBe(0);
  });

  it('sends the end entry with the final status and closes the stream', async () => {
    const hub = newHub(0);
    const opId = newOpId();
    await putOperation(ops, opId);
    await write(hub, opId, [logEntry(1), logEntry(2)]);
    const c = await connect(hub, opId);
    await c.waitFor(() => c.events.length === 2);
    await write(hub, opId, [logEntry(3), endEntry(4, 'failed')]);
    expect(await c.finished).toBe('closed');
    expect(c.events.map((e) => e.event)).toEqual(['log', 'log', 'log', 'end']);
    expect(JSON.parse(c.events[3]!.data)).toMatchObject({ kind: 'end', seq: 4, status: 'failed' });
    expect(hub.stats().subscribers).toBe(0);
  });

  it('sends the remaining history and end, then closes, when the operation is already terminal', async () => {
    const hub = newHub(0);
    const opId = newOpId();
    await putOperation(ops, opId, 'completed');
    await write(undefined, opId, [logEntry(1), logEntry(2), logEntry(3), endEntry(4)]);
    const c = await connect(hub, opId, '2');
    expect(await c.finished).toBe('closed');
    expect(c.events.map((e) => [e.id, e.event])).toEqual([
      ['3', 'log'],
      ['4', 'end'],
    ]);
  });

  it('ends a terminal operation that has no end entry after a short grace', async () => {
    const hub = newHub(0);
    const opId = newOpId();
    await putOperation(ops, opId, 'cancelled');
    const c = await connect(hub, opId, undefined, { endGraceMs: 30 });
    expect(await c.finished).toBe('closed');
    expect(c.events).toHaveLength(1);
    expect(c.events[0]).toMatchObject({ event: 'end', id: undefined });
    expect(JSON.parse(c.events[0]!.data)).toMatchObject({ status: 'cancelled' });
  });

  it('drops a client that does not read instead of buffering without bound', async () => {
    const hub = newHub(0);
    const opId = newOpId();
    await putOperation(ops, opId);
    const abort = new AbortController();
    const response = await operationEventStream(
      sseRequest(`http://portal.test/api/operations/${opId}/events`, { signal: abort.signal }),
      opId,
      { hub, logs, operations: ops },
      { maxQueuedBytes: 200_000 },
    );
    await new Promise((r) => setImmediate(r));
    // 400 entries of ~2 KB published locally (the body is never read).
    const big = 'x'.repeat(2000);
    for (let seq = 1; seq <= 400; seq += 50) {
      const batch = Array.from({ length: 50 }, (_, i) => logEntry(seq + i, { message: big }));
      hub.operationEvents(opId, batch); // delivery only; the stream never reads history here
      await logs.append(opId, batch, Date.now());
    }
    await until(() => hub.stats().subscribers === 0);
    await expect(response.body!.getReader().read()).rejects.toThrow(/too slow/);
  });

  it('answers 404 for an unknown operation and 400 for a bad Last-Event-ID', async () => {
    const hub = newHub(0);
    await expect(connect(hub, newOpId())).rejects.toMatchObject({ status: 404, code: 'not_found' });
    const opId = newOpId();
    await putOperation(ops, opId);
    await expect(connect(hub, opId, 'abc')).rejects.toMatchObject({
      status: 400,
      fields: { 'headers.last-event-id': 'must be a sequence number' },
    });
    expect(hub.stats().subscribers).toBe(0);
  });
});
