import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EventHub } from '@/lib/events/hub';
import { setRuntime, type Runtime } from '@/lib/runtime';
import { EventFeed } from '@/lib/store/events';
import { OperationLogStore } from '@/lib/store/operation-logs';
import { OperationStore } from '@/lib/store/operations';
import { GET as operationEvents } from '@/app/api/operations/[id]/events/route';
import { GET as globalEvents } from '@/app/api/events/route';
import { startTestDb, type TestDb } from '../support/dynalite';
import { putOperation, readSse } from './support';

// The handlers are called directly with the runtime they would get in the server; the lead's
// route tests cover the same paths through the real Next server.
const TOKEN = 'route-test-admin-token-0123456789';
let t: TestDb;
let hub: EventHub;

beforeAll(async () => {
  t = await startTestDb();
  const logs = new OperationLogStore(t.db, t.tables.operationLogs);
  const feed = new EventFeed({ db: t.db, table: t.tables.events });
  const operations = new OperationStore(t.db, t.tables.operations);
  hub = new EventHub({ logs, feed, pollMs: 0 });
  await putOperation(operations, 'op_known', 'running');
  const runtime: Partial<Runtime> = {
    adminToken: TOKEN,
    hub,
    eventSources: { logs, feed, operations },
  };
  setRuntime(runtime as Runtime);
});
afterAll(async () => {
  setRuntime(undefined);
  hub.close();
  await t.stop();
});

const call = (
  handler: typeof operationEvents,
  path: string,
  params: Record<string, string>,
  headers: Record<string, string> = {},
) =>
  handler(
    new Request(`http://portal.test${path}`, {
      headers: { authorization: `Bearer ${TOKEN}`, ...headers },
    }),
    {
      params: Promise.resolve(params),
    },
  );

async function errorOf(res: Response, status: number) {
  expect(res.status).toBe(status);
  return ((await res.json()) as { error: { code: string; fields?: Record<string, string> } }).error;
}

describe('event routes', () => {
  it('answer 400 with the field for a malformed operation id', async () => {
    const res = await call(operationEvents, '/api/operations/bad%20id/events', { id: 'bad id!' });
    expect(await errorOf(res, 400)).toMatchObject({
      code: 'bad_request',
      fields: { 'params.id': 'not an operation id' },
    });
    const long = 'a'.repeat(101);
    expect(
      (await call(operationEvents, `/api/operations/${long}/events`, { id: long })).status,
    ).toBe(400);
  });

  it('answer 400 for a malformed Last-Event-ID header or lastEventId query', async () => {
    const viaHeader = await call(
      operationEvents,
      '/api/operations/op_known/events',
      { id: 'op_known' },
      { 'last-event-id': '-1' },
    );
    expect((await errorOf(viaHeader, 400)).fields).toEqual({
      'headers.last-event-id': 'must be a sequence number',
    });
    const viaQuery = await call(operationEvents, '/api/operations/op_known/events?lastEventId=x', {
      id: 'op_known',
    });
    expect((await errorOf(viaQuery, 400)).fields).toEqual({
      'query.lastEventId': 'must be a sequence number',
    });
    const global = await call(globalEvents, '/api/events?lastEventId=123', {});
    expect((await errorOf(global, 400)).fields).toEqual({
      'query.lastEventId': 'must be an event id from this stream',
    });
  });

  it('answer 404 for an unknown operation and 401 without credentials', async () => {
    expect(
      await errorOf(
        await call(operationEvents, '/api/operations/op_nope/events', { id: 'op_nope' }),
        404,
      ),
    ).toMatchObject({
      code: 'not_found',
    });
    const anonymous = await operationEvents(
      new Request('http://portal.test/api/operations/op_known/events'),
      {
        params: Promise.resolve({ id: 'op_known' }),
      },
    );
    expect(anonymous.status).toBe(401);
  });

  it('stream a known operation with SSE headers', async () => {
    const abort = new AbortController();
    const res = await operationEvents(
      new Request('http://portal.test/api/operations/op_known/events', {
        headers: { authorization: `Bearer ${TOKEN}` },
        signal: abort.signal,
      }),
      { params: Promise.resolve({ id: 'op_known' }) },
    );
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('text/event-stream; charset=utf-8');
    expect(res.headers.get('cache-control')).toBe('no-cache, no-transform');
    expect(res.headers.get('x-accel-buffering')).toBe('no');
    const c = readSse(res, abort);
    await c.waitFor(() => c.retry !== undefined);
    await c.disconnect();
    expect(hub.stats().subscribers).toBe(0);
  });
});
