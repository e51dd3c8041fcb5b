import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { EventHub } from '@/lib/events/hub';
import { globalEventStream } from '@/lib/events/sse';
import { EventFeed } from '@/lib/store/events';
import { OperationLogStore } from '@/lib/store/operation-logs';
import { startTestDb, type TestDb } from '../support/dynalite';
import { readSse, sseRequest } from './support';

let t: TestDb;
let feed: EventFeed;
let hub: EventHub;
beforeAll(async () => {
  t = await startTestDb();
  feed = new EventFeed({ db: t.db, table: t.tables.events, processId: 'here' });
});
afterAll(() => t.stop());
afterEach(() => hub?.close());

function connect(lastEventId?: string) {
  const abort = new AbortController();
  const request = sseRequest('http://portal.test/api/events', {
    lastEventId,
    signal: abort.signal,
  });
  return globalEventStream(request, { hub, feed }, { heartbeatMs: 60_000 }).then((r) =>
    readSse(r, abort),
  );
}

describe('global event stream', () => {
  it('resumes after Last-Event-ID from the store, then follows local and remote changes, without duplicates', async () => {
    hub = new EventHub({
      logs: new OperationLogStore(t.db, t.tables.operationLogs),
      feed,
      pollMs: 0,
    });
    const other = new EventFeed({ db: t.db, table: t.tables.events, processId: 'there' });
    const seen = await feed.append({
      type: 'interview.updated',
      interviewId: 'iv_a',
      data: { n: 0 },
    });
    for (let n = 1; n <= 3; n++)
      await other.append({ type: 'interview.updated', interviewId: 'iv_a', data: { n } });

    const c = await connect(seen.id);
    await c.waitFor(() => c.events.length === 3, 2000, 'history');
    await hub.global({ type: 'operation.updated', operationId: 'op_x', data: { n: 4 } });
    await other.append({ type: 'interview.updated', interviewId: 'iv_b', data: { n: 5 } });
    await hub.poll(); // re-reads the window, which includes the history just sent
    await c.waitFor(() => c.events.length >= 5, 2000, 'live');
    await hub.poll();
    expect(c.events.map((e) => JSON.parse(e.data).data.n)).toEqual([1, 2, 3, 4, 5]);
    expect(c.events[3]).toMatchObject({ event: 'operation.updated' });
    expect(new Set(c.events.map((e) => e.id)).size).toBe(5);
    await c.disconnect();
    expect(hub.stats().globalSubscribers).toBe(0);
  });

  it('rejects a Last-Event-ID that is not a feed id with 400', async () => {
    hub = new EventHub({
      logs: new OperationLogStore(t.db, t.tables.operationLogs),
      feed,
      pollMs: 0,
    });
    await expect(connect('12')).rejects.toMatchObject({
      status: 400,
      fields: { 'headers.last-event-id': 'must be an event id from this stream' },
    });
  });
});
