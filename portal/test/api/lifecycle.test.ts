import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createParser, type EventSourceMessage } from 'eventsource-parser';
import { startTestDb, type TestDb } from '../support/dynalite';
import { startPortal, type PortalProcess } from '../support/portal';
import { waitFor } from '../support/wait';

// Two real portal processes on one table, with the engine tests' fake driver: the whole
// interview lifecycle through the HTTP API, and events crossing processes.
let db: TestDb;
let a: PortalProcess;
let b: PortalProcess;

beforeAll(async () => {
  db = await startTestDb();
  const env = { DRIVER: 'fake', SCHEDULER_POLL_MS: '200', LEASE_MS: '3000' };
  [a, b] = await Promise.all([
    startPortal({ dynamoEndpoint: db.endpoint, tablePrefix: db.prefix, env }),
    startPortal({ dynamoEndpoint: db.endpoint, tablePrefix: db.prefix, env }),
  ]);
});
afterAll(async () => {
  await Promise.all([a?.stop(), b?.stop()]);
  await db?.stop();
});

async function interview(p: PortalProcess, id: string) {
  const res = await p.api(`/api/interviews/${id}`);
  expect(res.status).toBe(200);
  return res.json();
}

/** Reads SSE events from a portal until `stop` returns true or the timeout passes. */
async function collectSse(
  p: PortalProcess,
  path: string,
  stop: (events: EventSourceMessage[]) => boolean,
  opts: { timeoutMs?: number; lastEventId?: string; onOpen?: () => void } = {},
): Promise<EventSourceMessage[]> {
  const ctrl = new AbortController();
  const timer = setTimeout(() => ctrl.abort(), opts.timeoutMs ?? 10_000);
  const events: EventSourceMessage[] = [];
  try {
    const res = await p.api(path, {
      signal: ctrl.signal,
      headers: opts.lastEventId ? { 'last-event-id': opts.lastEventId } : {},
    });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toContain('text/event-stream');
    opts.onOpen?.();
    const parser = createParser({ onEvent: (e) => events.push(e) });
    const decoder = new TextDecoder();
    for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
      parser.feed(decoder.decode(chunk, { stream: true }));
      if (stop(events)) break;
    }
  } catch (e) {
    if (!ctrl.signal.aborted) throw e;
  } finally {
    clearTimeout(timer);
    ctrl.abort();
  }
  return events;
}

describe('interview lifecycle through the API', () => {
  let id: string;
  let operationId: string;

  it('creates an interview: 201 with deadline, operation and candidate link', async () => {
    const res = await a.api('/api/interviews', {
      method: 'POST',
      json: {
        candidateName: 'Grace',
        challengeId: 'py-interval-scheduler',
        durationMinutes: 45,
        ai: { tokenBudget: 20000 },
      },
    });
    expect(res.status).toBe(201);
    const body = await res.json();
    id = body.id;
    operationId = body.operationId;
    expect(body.status).toBe('scheduled');
    expect(Date.parse(body.deadlineAt) - Date.parse(body.scheduledAt)).toBe(45 * 60_000);
    expect(body.candidateUrl).toMatch(new RegExp(`/c/${id}\\.`));
  });

  it('becomes ready, and the create operation completed with its log', async () => {
    await waitFor('ready', async () =>
      (await interview(b, id)).status === 'ready' ? true : undefined,
    );
    const op = await (await b.api(`/api/operations/${operationId}`)).json();
    expect(op.status).toBe('completed');
    expect(op.logs.entries.map((e: { seq: number }) => e.seq)).toEqual(
      op.logs.entries.map((_: unknown, i: number) => i + 1),
    );
    expect(op.logs.entries.at(-1).kind).toBe('end');
  });

  it('replays a finished operation over SSE from either process, resumable by Last-Event-ID', async () => {
    const all = await collectSse(b, `/api/operations/${operationId}/events`, (ev) =>
      ev.some((e) => e.event === 'end'),
    );
    const ids = all.filter((e) => e.id).map((e) => Number(e.id));
    expect(ids.length).toBeGreaterThan(2);
    expect(ids).toEqual(ids.map((_, i) => i + 1));
    expect(all.at(-1)?.event).toBe('end');
    const resumed = await collectSse(
      a,
      `/api/operations/${operationId}/events`,
      (ev) => ev.some((e) => e.event === 'end'),
      {
        lastEventId: '2',
      },
    );
    expect(resumed.filter((e) => e.id).map((e) => Number(e.id))).toEqual(ids.slice(2));
  });

  it('extends time and tokens', async () => {
    const before = await interview(a, id);
    const res = await a.api(`/api/interviews/${id}/extend`, {
      method: 'POST',
      json: { minutes: 10, tokens: 5000 },
    });
    expect(res.status).toBe(200);
    const after = await res.json();
    expect(Date.parse(after.deadlineAt) - Date.parse(before.deadlineAt)).toBe(10 * 60_000);
    expect(after.ai.tokenBudget).toBe(25000);
  });

  it('an event from process A reaches a /api/events client of process B within 1 s', async () => {
    let opened = 0;
    const sawAt: number[] = [];
    let sentAt = 0;
    const events = collectSse(
      b,
      '/api/events',
      (ev) => {
        const hit = ev.some(
          (e) =>
            e.event === 'interview.updated' && JSON.parse(e.data).data?.candidateName === 'Linus',
        );
        if (hit && sawAt.length === 0) sawAt.push(Date.now());
        return hit;
      },
      { onOpen: () => (opened = Date.now()) },
    );
    await waitFor('subscribed', async () => (opened ? true : undefined));
    sentAt = Date.now();
    const res = await a.api('/api/interviews', {
      method: 'POST',
      json: { candidateName: 'Linus', challengeId: 'js-http-api-design', durationMinutes: 30 },
    });
    expect(res.status).toBe(201);
    await events;
    expect(sawAt).toHaveLength(1);
    expect(sawAt[0]! - sentAt).toBeLessThan(1000 + 300); // 1 s target plus the API call itself
  });

  it('destroy is idempotent, ends the interview, and the link is no longer valid', async () => {
    const [r1, r2] = await Promise.all([
      a.api(`/api/interviews/${id}/destroy`, { method: 'POST' }),
      b.api(`/api/interviews/${id}/destroy`, { method: 'POST' }),
    ]);
    expect(r1.status).toBe(202);
    expect(r2.status).toBe(202);
    const [d1, d2] = [await r1.json(), await r2.json()];
    expect(d1.destroyOperationId).toBe(d2.destroyOperationId);
    await waitFor('ended', async () =>
      (await interview(a, id)).status === 'ended' ? true : undefined,
    );
    const iv = await interview(a, id);
    const link = await fetch(iv.candidateUrl, { redirect: 'manual' });
    expect(link.status).toBe(410);
    const ext = await a.api(`/api/interviews/${id}/extend`, {
      method: 'POST',
      json: { minutes: 5 },
    });
    expect(ext.status).toBe(409);
  });

  it('destroys an interview automatically at its deadline, exactly once', async () => {
    // Started 4 min 55 s ago with 5 minutes: the deadline is ~5 s away.
    const scheduledAt = new Date(Date.now() - 295_000).toISOString();
    const res = await a.api('/api/interviews', {
      method: 'POST',
      json: {
        candidateName: 'Deadline',
        challengeId: 'py-log-aggregation',
        durationMinutes: 5,
        scheduledAt,
      },
    });
    const created = await res.json();
    const ended = await waitFor(
      'auto-destroy',
      async () => {
        const iv = await interview(b, created.id);
        return iv.status === 'ended' ? iv : undefined;
      },
      20_000,
    );
    expect(Date.now()).toBeGreaterThanOrEqual(Date.parse(ended.deadlineAt));
    // The interview is marked ended inside the destroy, before the operation records its own end.
    const op = await waitFor(
      'destroy operation finished',
      async () => {
        const o = await (await a.api(`/api/operations/destroy-${created.id}`)).json();
        return ['completed', 'failed', 'cancelled'].includes(o.status) ? o : undefined;
      },
      5_000,
    );
    expect(op.type).toBe('destroy');
    expect(op.status).toBe('completed');
    expect(op.attempt).toBe(1);
  });
});
