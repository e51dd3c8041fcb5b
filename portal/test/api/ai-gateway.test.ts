import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { createParser, type EventSourceMessage } from 'eventsource-parser';
import OpenAI, { APIError } from 'openai';
import type { UsageSnapshot } from '@/lib/gateway/ledger';
import { startTestDb, type TestDb } from '../support/dynalite';
import { readFakeInstance } from '../support/fake-driver';
import { startUpstream, type TestUpstream } from '../support/openai-upstream';
import { startPortal, type PortalProcess } from '../support/portal';
import { waitFor } from '../support/wait';

/**
 * The metered AI gateway end to end: two real portal processes on one table (the fake driver
 * hands the candidate's gateway token to a marker file, as an instance would receive it), the
 * test tree's OpenAI-compatible upstream as the provider, the official `openai` client as the
 * candidate's IDE. A third process runs without any provider key.
 */

// A provider key nothing else could contain: any trace of it in a response, a log line, a
// transcript or an instance's options is a leak (I4, I9).
const PROVIDER_KEY = `sk-proj-LEAKCANARY${randomBytes(16).toString('hex')}`;
const MODEL = 'gpt-4o-mini';
/** What the upstream answers by default: 12 tokens of its word list. */
const DEFAULT_ANSWER = ' the code test value function return data list the code test value';

let db: TestDb;
let upstream: TestUpstream;
let a: PortalProcess;
let b: PortalProcess;
let noKey: PortalProcess;

beforeAll(async () => {
  [db, upstream] = await Promise.all([startTestDb(), startUpstream({ apiKey: PROVIDER_KEY })]);
  const common = {
    DRIVER: 'fake',
    SCHEDULER_POLL_MS: '200',
    LEASE_MS: '3000',
    OPENAI_BASE_URL: upstream.url,
  };
  const env = {
    ...common,
    OPENAI_API_KEY: PROVIDER_KEY,
    // Debug logs: the leak check below then covers everything the portal can print.
    LOG_LEVEL: 'debug',
    // Idle slices go back to the ledger within ~1 s, so another process's meter converges fast.
    AI_SLICE_IDLE_MS: '1000',
  };
  const start = (extra: Record<string, string>) =>
    startPortal({ dynamoEndpoint: db.endpoint, tablePrefix: db.prefix, env: extra });
  [a, b, noKey] = await Promise.all([
    start(env),
    start(env),
    // No key anywhere (an empty variable is "unset"), and no scheduler: it only serves requests.
    start({ ...common, OPENAI_API_KEY: '', SCHEDULER_ENABLED: 'false' }),
  ]);
});
afterAll(async () => {
  await Promise.all([a?.stop(), b?.stop(), noKey?.stop()]);
  await Promise.all([db?.stop(), upstream?.close()]);
});

// ---------------------------------------------------------------- every response the test receives

interface Seen {
  url: string;
  status: number;
  headers: string;
  body: string;
}
const seen: Seen[] = [];
const reading: Promise<void>[] = [];

/** Keeps a copy of a response (headers and the whole body as it streams) for the leak check. */
function capture(url: string, res: Response): Response {
  const rec: Seen = {
    url,
    status: res.status,
    headers: [...res.headers].map(([k, v]) => `${k}: ${v}`).join('\n'),
    body: '',
  };
  seen.push(rec);
  const copy = res.clone();
  reading.push(
    (async () => {
      if (!copy.body) return;
      const decoder = new TextDecoder();
      try {
        for await (const chunk of copy.body as unknown as AsyncIterable<Uint8Array>)
          rec.body += decoder.decode(chunk, { stream: true });
      } catch {
        // An aborted stream: what arrived is kept.
      }
    })(),
  );
  return res;
}

const captureFetch: typeof fetch = async (input, init) =>
  capture(input instanceof Request ? input.url : String(input), await fetch(input, init));

type Init = RequestInit & { json?: unknown };

/** The interviewer's API (admin bearer token). */
async function admin(p: PortalProcess, pathname: string, init: Init = {}): Promise<Response> {
  return capture(p.url + pathname, await p.api(pathname, init));
}

/** A request with a gateway token (the candidate's IDE), to any route. */
async function withToken(
  p: PortalProcess,
  token: string,
  pathname: string,
  init: Init = {},
): Promise<Response> {
  const { json, ...rest } = init;
  const headers = new Headers(rest.headers);
  headers.set('authorization', `Bearer ${token}`);
  if (json !== undefined) headers.set('content-type', 'application/json');
  const res = await fetch(p.url + pathname, {
    ...rest,
    headers,
    body: json !== undefined ? JSON.stringify(json) : rest.body,
  });
  return capture(p.url + pathname, res);
}

/** Asserts the one error shape and the status (and code); returns the error. */
async function expectError(res: Response, status: number | number[], code?: string) {
  const text = await res.text();
  expect([status].flat(), `${res.url} → ${res.status} ${text}`).toContain(res.status);
  const body = JSON.parse(text) as {
    error: { code: string; message: string; fields?: Record<string, string> };
  };
  expect(typeof body.error.code).toBe('string');
  expect(typeof body.error.message).toBe('string');
  if (code) expect(body.error.code, `${res.url}: ${text}`).toBe(code);
  return body.error;
}

async function ok<T = any>(res: Response, status = 200): Promise<T> {
  const text = await res.text();
  expect(res.status, `${res.url} → ${res.status} ${text}`).toBe(status);
  return JSON.parse(text) as T;
}

// ---------------------------------------------------------------- SSE

interface SseEvent extends EventSourceMessage {
  /** When the event arrived (ms). */
  at: number;
}

interface SseConn {
  status: number;
  events: SseEvent[];
  /** The first event (already received or still to come) that matches. */
  find(pred: (e: SseEvent) => boolean, what: string, timeoutMs?: number): Promise<SseEvent>;
  close(): void;
}

const openStreams: SseConn[] = [];
afterAll(() => openStreams.forEach((s) => s.close()));

async function openSse(
  p: PortalProcess,
  pathname: string,
  authorization: string,
  lastEventId?: string,
): Promise<SseConn> {
  const ctrl = new AbortController();
  const headers: Record<string, string> = {
    authorization,
    ...(lastEventId && { 'last-event-id': lastEventId }),
  };
  const res = capture(
    p.url + pathname,
    await fetch(p.url + pathname, { headers, signal: ctrl.signal }),
  );
  const events: SseEvent[] = [];
  const listeners = new Set<() => void>();
  if (res.ok) {
    expect(res.headers.get('content-type')).toContain('text/event-stream');
    const parser = createParser({
      onEvent: (e) => {
        events.push({ ...e, at: Date.now() });
        for (const l of [...listeners]) l();
      },
    });
    void (async () => {
      const decoder = new TextDecoder();
      try {
        for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>)
          parser.feed(decoder.decode(chunk, { stream: true }));
      } catch {
        // closed by the test
      }
    })();
  }
  const conn: SseConn = {
    status: res.status,
    events,
    find(pred, what, timeoutMs = 5000) {
      return new Promise((resolve, reject) => {
        let timer: NodeJS.Timeout | undefined;
        const check = () => {
          const e = events.find(pred);
          if (!e) return;
          listeners.delete(check);
          clearTimeout(timer);
          resolve(e);
        };
        listeners.add(check);
        timer = setTimeout(() => {
          listeners.delete(check);
          const got = events
            .map((e) => `${e.event}#${e.id ?? '-'} ${e.data.slice(0, 160)}`)
            .join('\n  ');
          reject(new Error(`${pathname}: timed out waiting for ${what}; got:\n  ${got}`));
        }, timeoutMs);
        check();
      });
    },
    close: () => ctrl.abort(),
  };
  openStreams.push(conn);
  return conn;
}

// ---------------------------------------------------------------- interviews, tokens, meters

type Meter = UsageSnapshot;

interface TranscriptMessage {
  id: string;
  requestId: string;
  role: string;
  content: string;
  tokensIn?: number;
  tokensOut?: number;
  estimated?: boolean;
  status?: string;
  error?: string;
}

interface Provisioned {
  id: string;
  token: string;
  gatewayUrl: string;
  createOperationId: string;
}

const recordFile = (p: PortalProcess) => path.join(p.dataDir, 'fake-driver.jsonl');

/** Creates an interview on `p`, waits until it is ready, and reads the token its instance got. */
async function provision(
  p: PortalProcess,
  name: string,
  tokenBudget: number,
): Promise<Provisioned> {
  const created = await ok(
    await admin(p, '/api/interviews', {
      method: 'POST',
      json: {
        candidateName: name,
        challengeId: 'py-interval-scheduler',
        durationMinutes: 45,
        ai: { tokenBudget },
      },
    }),
    201,
  );
  const id = created.id as string;
  await waitFor(`${name} ready`, async () =>
    (await ok(await admin(p, `/api/interviews/${id}`))).status === 'ready' ? true : undefined,
  );
  // Either process's scheduler may have provisioned it; each has its own fake-driver files.
  const instance = [a, b].map((q) => readFakeInstance(recordFile(q), id)).find((i) => i !== null);
  expect(instance?.options, `instance options of ${name}`).toBeDefined();
  const { gatewayUrl, gatewayToken } = instance!.options as {
    gatewayUrl: string;
    gatewayToken: string;
  };
  expect(gatewayToken).toMatch(/^igw\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]{43}$/);
  expect(gatewayUrl).toMatch(/^http:\/\/localhost:\d+\/api\/ai\/v1$/);
  return { id, token: gatewayToken, gatewayUrl, createOperationId: created.operationId as string };
}

/** The interviewer's meter, read from `p`. */
async function meter(p: PortalProcess, id: string): Promise<Meter> {
  return ok<Meter>(await admin(p, `/api/interviews/${id}/ai`));
}

/** Another process's charges reach this one's meter once that process persists or returns its slice. */
async function metersAgree(id: string): Promise<void> {
  await waitFor(
    'both processes to show the same meter',
    async () => {
      const [x, y] = await Promise.all([meter(a, id), meter(b, id)]);
      return x.used === y.used && x.requests === y.requests ? true : undefined;
    },
    10_000,
  );
}

function client(p: PortalProcess, token: string): OpenAI {
  return new OpenAI({
    apiKey: token,
    baseURL: `${p.url}/api/ai/v1`,
    maxRetries: 0,
    timeout: 20_000,
    fetch: captureFetch,
  });
}

async function transcript(res: Response): Promise<TranscriptMessage[]> {
  const page = await ok<{ messages: TranscriptMessage[]; nextCursor?: string }>(res);
  expect(Array.isArray(page.messages)).toBe(true);
  return page.messages;
}

/** The prompt carrying `nonce` and the answer of the same request. */
function exchangeOf(messages: TranscriptMessage[], nonce: string) {
  const prompt = messages.find((m) => m.role === 'user' && m.content.includes(nonce));
  const answer = messages.find((m) => m.role === 'assistant' && m.requestId === prompt?.requestId);
  return { prompt, answer };
}

/** Runs `fn` and returns the API error it throws (fails if it does not). */
async function apiError(fn: () => Promise<unknown>): Promise<APIError> {
  try {
    await fn();
  } catch (e) {
    if (e instanceof APIError) return e;
    throw e;
  }
  throw new Error('expected an API error');
}

const nonce = (label: string) => `${label}-${randomBytes(4).toString('hex')}`;

// ---------------------------------------------------------------- tests

describe('the metered AI gateway through the portal', () => {
  let iv1: Provisioned;
  let iv2: Provisioned;
  let iv3: Provisioned;
  let iv2Nonce: string;

  beforeAll(async () => {
    [iv1, iv2, iv3] = await Promise.all([
      provision(a, 'Ada', 100_000),
      provision(b, 'Barbara', 50_000),
      provision(a, 'Carl', 50_000),
    ]);
  });

  it('charges what the provider reported, streamed or not, on either process; both sides see the transcript', async () => {
    const cases = [
      { p: a, stream: true, includeUsage: true },
      { p: a, stream: false, includeUsage: false },
      { p: b, stream: true, includeUsage: false },
      { p: b, stream: false, includeUsage: false },
    ];
    for (const p of [a, b]) {
      const models = await client(p, iv1.token).models.list();
      expect(models.data.map((m) => m.id)).toEqual([MODEL]);
    }
    for (const [i, c] of cases.entries()) {
      const where = `case ${i} (${c.p === a ? 'A' : 'B'}, ${c.stream ? 'streamed' : 'not streamed'})`;
      // Deltas are measured on the serving process; first it must see the other's charges.
      if (i === 2) await metersAgree(iv1.id);
      const before = await meter(c.p, iv1.id);
      const n = nonce(`t1-${i}`);
      const messages = [
        { role: 'system' as const, content: 'You are a terse assistant.' },
        { role: 'user' as const, content: `What does Array.prototype.flatMap do? [[nonce:${n}]]` },
      ];
      let text = '';
      let usage: OpenAI.CompletionUsage | undefined;
      if (c.stream) {
        const stream = await client(c.p, iv1.token).chat.completions.create({
          model: MODEL,
          messages,
          stream: true,
          ...(c.includeUsage && { stream_options: { include_usage: true } }),
        });
        for await (const chunk of stream) {
          text += chunk.choices[0]?.delta?.content ?? '';
          if (chunk.usage) usage = chunk.usage;
        }
      } else {
        const completion = await client(c.p, iv1.token).chat.completions.create({
          model: MODEL,
          messages,
        });
        text = completion.choices[0]?.message.content ?? '';
        usage = completion.usage;
      }
      const rec = upstream.byNonce(n);
      expect(rec?.done, where).toBe(true);
      const reported = rec!.reported!;
      expect(text, where).toBe(DEFAULT_ANSWER);
      if (c.stream && !c.includeUsage)
        expect(usage, `${where}: the usage chunk it did not ask for`).toBeUndefined();
      else
        expect(
          { prompt: usage?.prompt_tokens, completion: usage?.completion_tokens },
          where,
        ).toEqual({ prompt: reported.prompt_tokens, completion: reported.completion_tokens });

      const after = await meter(c.p, iv1.id);
      expect(after.used - before.used, where).toBe(
        reported.prompt_tokens + reported.completion_tokens,
      );
      expect(after.usedIn - before.usedIn, where).toBe(reported.prompt_tokens);
      expect(after.usedOut - before.usedOut, where).toBe(reported.completion_tokens);
      expect(after.requests - before.requests, where).toBe(1);
      expect(after.estimatedRequests, where).toBe(before.estimatedRequests);
      const own = await ok<Meter>(await withToken(c.p, iv1.token, '/api/ai/v1/usage'));
      expect({ ...own, at: 0, reserved: 0, remaining: 0 }, where).toEqual({
        ...after,
        at: 0,
        reserved: 0,
        remaining: 0,
      });

      // The interviewer (through A) and the candidate (through B) see the same exchange, with
      // the tokens that were charged.
      for (const [who, res] of [
        ['interviewer', await admin(a, `/api/interviews/${iv1.id}/transcript`)],
        ['candidate', await withToken(b, iv1.token, '/api/ai/v1/transcript')],
      ] as const) {
        const { prompt, answer } = exchangeOf(await transcript(res), n);
        expect(prompt?.content, `${where}, ${who}`).toBe(messages[1]!.content);
        expect(answer, `${where}, ${who}`).toMatchObject({
          content: DEFAULT_ANSWER,
          tokensIn: reported.prompt_tokens,
          tokensOut: reported.completion_tokens,
          estimated: false,
          status: 'complete',
        });
      }
    }
  });

  it("sends the interviewer's interview stream an interview.usage event after a completion", async () => {
    const stream = await openSse(a, `/api/interviews/${iv2.id}/events`, `Bearer ${a.adminToken}`);
    expect(stream.status).toBe(200);
    const first = await stream.find(() => true, 'the current meter');
    expect(first.event).toBe('interview.usage');
    expect(first.id).toBeUndefined();
    const initial = JSON.parse(first.data).data as Meter;
    expect(initial).toMatchObject({ interviewId: iv2.id, budget: 50_000 });

    iv2Nonce = nonce('iv2');
    await client(b, iv2.token).chat.completions.create({
      model: MODEL,
      messages: [{ role: 'user', content: `hi [[nonce:${iv2Nonce}]]` }],
    });
    const reported = upstream.byNonce(iv2Nonce)!.reported!;
    const changed = await stream.find(
      (e) =>
        e.event === 'interview.usage' &&
        e.id !== undefined &&
        (JSON.parse(e.data).data as Meter).requests > initial.requests,
      'a usage event for the completion',
    );
    const u = JSON.parse(changed.data).data as Meter;
    expect(u.interviewId).toBe(iv2.id);
    expect(u.used - initial.used).toBe(reported.prompt_tokens + reported.completion_tokens);
    stream.close();
  });

  it("a gateway token reads only its own interview and opens nothing in the interviewer's API", async () => {
    // Its own data, whatever the request names.
    for (const q of ['', `?interviewId=${iv2.id}`]) {
      const u = await ok<Meter>(await withToken(a, iv1.token, `/api/ai/v1/usage${q}`));
      expect(u.interviewId).toBe(iv1.id);
      const messages = await transcript(await withToken(b, iv1.token, `/api/ai/v1/transcript${q}`));
      expect(messages.length).toBeGreaterThan(0);
      expect(JSON.stringify(messages)).not.toContain(iv2Nonce);
    }
    const events = await openSse(
      b,
      `/api/ai/v1/events?interviewId=${iv2.id}`,
      `Bearer ${iv1.token}`,
    );
    expect(events.status).toBe(200);
    expect(JSON.parse((await events.find(() => true, 'the current meter')).data).interviewId).toBe(
      iv1.id,
    );
    events.close();
    // Interview 2's own token does see its data (the check above can fail).
    expect(
      JSON.stringify(await transcript(await withToken(a, iv2.token, '/api/ai/v1/transcript'))),
    ).toContain(iv2Nonce);

    // Interview 1's secret under interview 2's id is no token at all.
    const forged = `igw.${Buffer.from(iv2.id).toString('base64url')}.${iv1.token.split('.')[2]}`;
    for (const p of [a, b]) {
      for (const route of [
        '/api/ai/v1/usage',
        '/api/ai/v1/transcript',
        '/api/ai/v1/events',
        '/api/ai/v1/models',
      ]) {
        await expectError(await withToken(p, forged, route), 401, 'invalid_token');
      }
      await expectError(
        await withToken(p, forged, '/api/ai/v1/chat/completions', {
          method: 'POST',
          json: { model: MODEL, messages: [{ role: 'user', content: 'hi' }] },
        }),
        401,
        'invalid_token',
      );
    }

    // Every interviewer route, for the other interview and for its own.
    const settingsBefore = await ok(await admin(a, '/api/settings/ai'));
    const routes: [string, string, unknown?][] = [
      ['GET', '/api/interviews'],
      [
        'POST',
        '/api/interviews',
        { candidateName: 'Mallory', challengeId: 'py-interval-scheduler', durationMinutes: 30 },
      ],
      ['GET', '/api/challenges'],
      ['GET', '/api/events'],
      ['GET', '/api/settings/ai'],
      ['PUT', '/api/settings/ai', { apiKey: 'sk-mallory-0123456789' }],
      ['DELETE', '/api/settings/ai'],
    ];
    for (const iv of [iv2, iv1]) {
      routes.push(
        ['GET', `/api/interviews/${iv.id}`],
        ['GET', `/api/interviews/${iv.id}/transcript`],
        ['GET', `/api/interviews/${iv.id}/ai`],
        ['POST', `/api/interviews/${iv.id}/ai/end`],
        ['GET', `/api/interviews/${iv.id}/audit`],
        ['POST', `/api/interviews/${iv.id}/extend`, { tokens: 1_000_000 }],
        ['POST', `/api/interviews/${iv.id}/destroy`],
        ['GET', `/api/interviews/${iv.id}/events`],
        ['GET', `/api/interviews/${iv.id}/archive`],
        ['GET', `/api/operations/${iv.createOperationId}`],
        ['GET', `/api/operations/${iv.createOperationId}/events`],
        ['POST', `/api/operations/${iv.createOperationId}/cancel`],
      );
    }
    for (const p of [a, b]) {
      for (const [method, route, json] of routes) {
        const res = await withToken(p, iv1.token, route, {
          method,
          ...(json !== undefined && { json }),
        });
        await expectError(res, [401, 403]);
      }
    }
    // …and nothing changed.
    expect(await ok(await admin(a, '/api/settings/ai'))).toEqual(settingsBefore);
    for (const iv of [iv1, iv2]) {
      const view = await ok(await admin(b, `/api/interviews/${iv.id}`));
      expect(view.status).toBe('ready');
      expect(view.destroyOperationId).toBeUndefined();
      expect((await meter(a, iv.id)).endedAt).toBeUndefined();
    }
    expect((await meter(b, iv2.id)).budget).toBe(50_000);
    const list = await ok<{ items: { candidateName: string }[] }>(
      await admin(a, '/api/interviews?limit=100'),
    );
    expect(list.items.map((i) => i.candidateName)).not.toContain('Mallory');
  });

  it('extension and end of access on A reach the candidate on B within 1 s; a running answer is cut', async () => {
    const events = await openSse(b, '/api/ai/v1/events', `Bearer ${iv3.token}`);
    expect(events.status).toBe(200);
    const first = await events.find(() => true, 'the current meter');
    expect(first.event).toBe('usage');
    expect(first.id).toBeUndefined();
    expect(JSON.parse(first.data)).toMatchObject({ interviewId: iv3.id, budget: 50_000, used: 0 });
    expect(JSON.parse(first.data).endedAt).toBeUndefined();

    // Extend on A.
    const extendAt = Date.now();
    const extended = await ok(
      await admin(a, `/api/interviews/${iv3.id}/extend`, {
        method: 'POST',
        json: { tokens: 5000 },
      }),
    );
    expect(extended.ai.tokenBudget).toBe(55_000);
    expect(extended.usage).toMatchObject({ interviewId: iv3.id, budget: 55_000 });
    const grown = await events.find(
      (e) => e.event === 'usage' && JSON.parse(e.data).budget === 55_000,
      'the new budget',
      3000,
    );
    expect(grown.id).toMatch(/^\d{13}#/);
    expect(grown.at - extendAt, 'extension → candidate stream on B (ms)').toBeLessThanOrEqual(1000);

    // A quick answer on A moves the meter; a client that saw only the extension resumes after it.
    const quick = nonce('quick');
    await client(a, iv3.token).chat.completions.create({
      model: MODEL,
      messages: [{ role: 'user', content: `Quick [[nonce:${quick}]]` }],
    });
    const moved = await events.find(
      (e) => e.id !== undefined && JSON.parse(e.data).requests === 1,
      'the meter after the quick answer',
      3000,
    );
    const resumed = await openSse(a, '/api/ai/v1/events', `Bearer ${iv3.token}`, grown.id);
    expect(resumed.status).toBe(200);
    await resumed.find((e) => e.id === moved.id, 'the missed event, replayed');
    expect(resumed.events[0]!.id).toBeUndefined(); // the current meter first
    const ids = resumed.events.filter((e) => e.id !== undefined).map((e) => e.id!);
    expect(
      ids.every((id) => id > grown.id!),
      `resumed after ${grown.id}: ${ids.join(', ')}`,
    ).toBe(true);
    expect(new Set(ids).size).toBe(ids.length);
    resumed.close();

    // A slow answer streaming on B…
    const n = nonce('cut');
    const answer = await client(b, iv3.token).chat.completions.create({
      model: MODEL,
      messages: [
        {
          role: 'user',
          content: `Write a long essay [[nonce:${n}]] [[upstream {"tokens":400,"tokenDelayMs":20}]]`,
        },
      ],
      stream: true,
    });
    let received = '';
    let firstChunk!: () => void;
    const started = new Promise<void>((r) => (firstChunk = r));
    const outcome = (async () => {
      try {
        for await (const chunk of answer) {
          received += chunk.choices[0]?.delta?.content ?? '';
          if (received) firstChunk();
        }
        return { error: undefined, at: Date.now() };
      } catch (e) {
        return { error: e, at: Date.now() };
      }
    })();
    await started;

    // …when the interviewer ends AI access on A.
    const endAt = Date.now();
    const ended = await ok<Meter>(
      await admin(a, `/api/interviews/${iv3.id}/ai/end`, { method: 'POST' }),
    );
    expect(ended.endedAt).toBeTypeOf('number');
    const seenEnd = await events.find(
      (e) => e.event === 'usage' && JSON.parse(e.data).endedAt !== undefined,
      'endedAt',
      3000,
    );
    expect(seenEnd.id).toMatch(/^\d{13}#/);
    expect(seenEnd.at - endAt, 'end of access → candidate stream on B (ms)').toBeLessThanOrEqual(
      1000,
    );

    const cut = await outcome;
    expect(cut.error, `the answer on B ran to its end: ${received.length} chars`).toBeInstanceOf(
      APIError,
    );
    expect((cut.error as APIError).code).toBe('ai_access_ended');
    expect(cut.at - endAt, 'end of access → answer on B cut (ms)').toBeLessThanOrEqual(1500);
    // The provider call was stopped too (no more generation paid for).
    await waitFor(
      'the upstream call aborted',
      async () => (upstream.byNonce(n)?.aborted ? true : undefined),
      3000,
    );
    expect(upstream.byNonce(n)!.generated).toBeLessThan(400);

    // New requests are refused on both processes, streamed or not.
    for (const p of [a, b]) {
      for (const stream of [false, true]) {
        const err = await apiError(() =>
          client(p, iv3.token).chat.completions.create({
            model: MODEL,
            messages: [{ role: 'user', content: 'more' }],
            stream,
          }),
        );
        expect(err.status).toBe(403);
        expect(err.code).toBe('ai_access_ended');
      }
    }
    // The cut answer is in the transcript, charged honestly and within the budget.
    const iv3Messages = await transcript(await admin(a, `/api/interviews/${iv3.id}/transcript`));
    const { answer: stored } = exchangeOf(iv3Messages, n);
    expect(stored).toMatchObject({ status: 'stopped', error: 'ai_access_ended', estimated: true });
    expect(stored!.content.length).toBeGreaterThan(0);
    expect(received.startsWith(stored!.content) || stored!.content.startsWith(received)).toBe(true);
    await metersAgree(iv3.id);
    const final = await meter(b, iv3.id);
    expect(final.endedAt).toBe(ended.endedAt);
    const charged = iv3Messages
      .filter((m) => m.role === 'assistant')
      .map((m) => m.tokensIn! + m.tokensOut!);
    expect(charged).toHaveLength(2); // the quick answer and the cut one; refused requests cost nothing
    expect(final.used).toBe(charged[0]! + charged[1]!);
    expect(final.used).toBeLessThanOrEqual(final.budget);

    // Ending again changes nothing (and is not audited again: see the audit test).
    expect(
      (await ok<Meter>(await admin(b, `/api/interviews/${iv3.id}/ai/end`, { method: 'POST' })))
        .endedAt,
    ).toBe(ended.endedAt);
    events.close();
  });

  it('a portal without a provider key answers a valid token with 503 ai_not_configured and stays healthy', async () => {
    const upstreamCalls = upstream.records.length;
    const settings = await ok(await admin(noKey, '/api/settings/ai'));
    expect(settings).toMatchObject({ configured: false, source: 'none' });
    for (const stream of [false, true]) {
      const err = await apiError(() =>
        client(noKey, iv2.token).chat.completions.create({
          model: MODEL,
          messages: [{ role: 'user', content: 'hello?' }],
          stream,
        }),
      );
      expect(err.status).toBe(503);
      expect(err.code).toBe('ai_not_configured');
    }
    // The token itself is fine there: the rest of the candidate API answers.
    expect(
      (await ok<Meter>(await withToken(noKey, iv2.token, '/api/ai/v1/usage'))).interviewId,
    ).toBe(iv2.id);
    expect(
      (await ok(await withToken(noKey, iv2.token, '/api/ai/v1/models'))).data.length,
    ).toBeGreaterThan(0);
    expect((await ok(await admin(noKey, '/api/health'))).status).toBe('ok');
    expect(noKey.proc.exitCode).toBeNull();
    // Nothing was sent upstream on its behalf.
    expect(upstream.records.length).toBe(upstreamCalls);
  });

  it('after destroy the token is revoked on both processes', async () => {
    // Both processes have the token's interview cached: revocation must reach each cache.
    for (const p of [a, b]) await ok(await withToken(p, iv1.token, '/api/ai/v1/usage'));
    await ok(await admin(a, `/api/interviews/${iv1.id}/destroy`, { method: 'POST' }), 202);
    await waitFor('ended', async () =>
      (await ok(await admin(b, `/api/interviews/${iv1.id}`))).status === 'ended' ? true : undefined,
    );
    // The process that ran the destroy revoked at once; the other hears of it through the event
    // hub, within the 1 s that I7 allows for events crossing processes.
    for (const p of [a, b]) {
      await waitFor(
        `the token refused by ${p === a ? 'A' : 'B'}`,
        async () =>
          (await withToken(p, iv1.token, '/api/ai/v1/usage')).status === 401 ? true : undefined,
        1000,
      );
    }
    for (const p of [a, b]) {
      for (const route of [
        '/api/ai/v1/usage',
        '/api/ai/v1/transcript',
        '/api/ai/v1/models',
        '/api/ai/v1/events',
      ]) {
        await expectError(await withToken(p, iv1.token, route), 401, 'token_revoked');
      }
      for (const stream of [false, true]) {
        const err = await apiError(() =>
          client(p, iv1.token).chat.completions.create({
            model: MODEL,
            messages: [{ role: 'user', content: 'still there?' }],
            stream,
          }),
        );
        expect(err.status).toBe(401);
        expect(err.code).toBe('token_revoked');
      }
    }
    // The interviewer keeps the transcript (I3).
    expect(
      (await transcript(await admin(b, `/api/interviews/${iv1.id}/transcript`))).length,
    ).toBeGreaterThanOrEqual(8);
  });

  it("the audit trail holds the interviewer's actions, once each, and nothing done with a gateway token", async () => {
    type Entry = {
      id: string;
      at: string;
      actor: string;
      action: string;
      interviewId: string;
      details: Record<string, unknown>;
    };
    const trail = async (p: PortalProcess, id: string) =>
      (
        await ok<{ entries: Entry[]; nextCursor?: string }>(
          await admin(p, `/api/interviews/${id}/audit`),
        )
      ).entries;
    const iv3Trail = await trail(b, iv3.id);
    expect(iv3Trail.map((e) => e.action)).toEqual([
      'interview.created',
      'interview.extended',
      'ai.access_ended',
    ]);
    for (const e of iv3Trail)
      expect(e).toMatchObject({ interviewId: iv3.id, actor: 'interviewer' });
    expect(iv3Trail[1]!.details).toMatchObject({ tokens: 5000, tokenBudget: 55_000 });
    expect((await trail(a, iv1.id)).map((e) => e.action)).toEqual([
      'interview.created',
      'interview.ended_early',
    ]);
    // Interview 2 saw only refused attempts with interview 1's token.
    expect((await trail(a, iv2.id)).map((e) => e.action)).toEqual(['interview.created']);
  });

  it('rejects malformed input on the new routes with 400/404/409 in the one error shape', async () => {
    const unknown = `iv_${'A'.repeat(22)}`;
    for (const p of [a, b]) {
      for (const [method, suffix] of [
        ['GET', '/ai'],
        ['POST', '/ai/end'],
        ['GET', '/audit'],
        ['GET', '/events'],
        ['POST', '/extend'],
      ] as const) {
        const init = { method, ...(suffix === '/extend' && { json: { tokens: 10 } }) };
        const bad = await expectError(
          await admin(p, `/api/interviews/not-an-id${suffix}`, init),
          400,
          'bad_request',
        );
        expect(bad.fields).toHaveProperty(['params.id']);
        await expectError(
          await admin(p, `/api/interviews/${unknown}${suffix}`, init),
          404,
          'not_found',
        );
      }
      await expectError(await admin(p, '/api/interviews/not-an-id/transcript'), 400, 'bad_request');
      // Extension bodies.
      for (const json of [
        {},
        { tokens: -5 },
        { tokens: 1.5 },
        { minutes: 0 },
        { tokens: 10, budget: 1 },
      ]) {
        await expectError(
          await admin(p, `/api/interviews/${iv2.id}/extend`, { method: 'POST', json }),
          400,
          'bad_request',
        );
      }
      // Resume points that are no event id.
      for (const last of ['nope', '12', '1700000000000#x']) {
        await expectError(
          await withToken(p, iv2.token, '/api/ai/v1/events', {
            headers: { 'last-event-id': last },
          }),
          400,
          'bad_request',
        );
        await expectError(
          await admin(p, `/api/interviews/${iv2.id}/events`, {
            headers: { 'last-event-id': last },
          }),
          400,
          'bad_request',
        );
        await expectError(
          await withToken(
            p,
            iv2.token,
            `/api/ai/v1/events?lastEventId=${encodeURIComponent(last)}`,
          ),
          400,
          'bad_request',
        );
      }
      // Page sizes.
      for (const limit of ['0', '501', 'ten', '-1', '2.5']) {
        const e1 = await expectError(
          await withToken(p, iv2.token, `/api/ai/v1/transcript?limit=${limit}`),
          400,
          'bad_request',
        );
        expect(e1.fields).toHaveProperty(['query.limit']);
        await expectError(
          await admin(p, `/api/interviews/${iv2.id}/transcript?limit=${limit}`),
          400,
          'bad_request',
        );
        await expectError(
          await admin(p, `/api/interviews/${iv2.id}/audit?limit=${limit}`),
          400,
          'bad_request',
        );
      }
      await expectError(
        await admin(p, `/api/interviews/${iv2.id}/audit?cursor=garbage`),
        400,
        'bad_request',
      );
      // No token, not a token, or the interviewer's token on the candidate routes.
      for (const route of [
        '/api/ai/v1/usage',
        '/api/ai/v1/transcript',
        '/api/ai/v1/events',
        '/api/ai/v1/models',
      ]) {
        await expectError(capture(p.url + route, await fetch(p.url + route)), 401, 'unauthorized');
        await expectError(await withToken(p, 'not-a-gateway-token', route), 401, 'invalid_token');
        await expectError(await withToken(p, p.adminToken, route), 401, 'invalid_token');
      }
      // Chat requests the gateway will not forward.
      const chat = (json: unknown) =>
        withToken(p, iv2.token, '/api/ai/v1/chat/completions', { method: 'POST', json });
      const unknownParam = await expectError(
        await chat({ model: MODEL, messages: [{ role: 'user', content: 'x' }], frobnicate: true }),
        400,
        'bad_request',
      );
      expect(JSON.stringify(unknownParam.fields)).toContain('frobnicate');
      await expectError(
        await chat({ model: 'gpt-4-unlisted', messages: [{ role: 'user', content: 'x' }] }),
        400,
        'bad_request',
      );
      await expectError(await chat({ model: MODEL, messages: 'hello' }), 400, 'bad_request');
      await expectError(
        await withToken(p, iv2.token, '/api/ai/v1/chat/completions', {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: '{"model":',
        }),
        400,
      );
    }

    // Before provisioning there is no AI access to end (the meter shows the budget meanwhile).
    const later = new Date(Date.now() + 3600_000).toISOString();
    const pending = await ok(
      await admin(a, '/api/interviews', {
        method: 'POST',
        json: {
          candidateName: 'Later',
          challengeId: 'py-interval-scheduler',
          durationMinutes: 30,
          scheduledAt: later,
          ai: { tokenBudget: 7000 },
        },
      }),
      201,
    );
    expect(await meter(b, pending.id)).toMatchObject({
      interviewId: pending.id,
      budget: 7000,
      used: 0,
      remaining: 7000,
    });
    await expectError(
      await admin(b, `/api/interviews/${pending.id}/ai/end`, { method: 'POST' }),
      409,
      'conflict',
    );
    await ok(await admin(a, `/api/interviews/${pending.id}/destroy`, { method: 'POST' }), 202);
  });

  it("an unknown interview's transcript is 404, like its meter, audit and events", async () => {
    for (const p of [a, b])
      await expectError(
        await admin(p, `/api/interviews/iv_${'A'.repeat(22)}/transcript`),
        404,
        'not_found',
      );
  });

  it('the provider key appears in no response, log line, transcript or instance option', async () => {
    for (const s of openStreams) s.close();
    // Bodies still streaming when their connection closed end with it.
    await Promise.race([Promise.all(reading), new Promise((r) => setTimeout(r, 3000))]);
    expect(seen.length).toBeGreaterThan(100);
    const keyParts = [PROVIDER_KEY, PROVIDER_KEY.slice(-16)];
    for (const s of seen) {
      for (const part of keyParts) {
        expect(s.headers.includes(part), `response headers of ${s.url}`).toBe(false);
        expect(s.body.includes(part), `response body of ${s.url}`).toBe(false);
      }
    }
    for (const [name, p] of [
      ['A', a],
      ['B', b],
      ['no-key', noKey],
    ] as const) {
      expect(p.output.length, `portal ${name} printed something`).toBeGreaterThan(0);
      for (const part of keyParts)
        expect(
          p.output.filter((l) => l.includes(part)),
          `portal ${name} output`,
        ).toEqual([]);
    }
    // Transcripts, read whole.
    for (const iv of [iv1, iv2, iv3]) {
      const text = JSON.stringify(
        await transcript(await admin(a, `/api/interviews/${iv.id}/transcript?limit=500`)),
      );
      for (const part of keyParts)
        expect(text.includes(part), `transcript of ${iv.id}`).toBe(false);
    }
    // The instances got the gateway's URL and their token, nothing else; no file the portals
    // wrote holds the key (the fake driver's records and markers live there too).
    for (const iv of [iv2, iv3]) {
      const instance = [a, b]
        .map((q) => readFakeInstance(recordFile(q), iv.id))
        .find((i) => i !== null);
      expect(Object.keys(instance?.options ?? {}).sort()).toEqual(['gatewayToken', 'gatewayUrl']);
    }
    for (const p of [a, b, noKey]) {
      for (const file of filesUnder(p.dataDir)) {
        let content: Buffer;
        try {
          content = readFileSync(file);
        } catch {
          continue; // removed since the walk
        }
        for (const part of keyParts) expect(content.includes(part), file).toBe(false);
      }
    }
  });
});

function filesUnder(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const p = path.join(dir, name);
    const st = statSync(p, { throwIfNoEntry: false }); // a file may go away meanwhile
    if (st?.isDirectory()) out.push(...filesUnder(p));
    else if (st?.isFile()) out.push(p);
  }
  return out;
}
