import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ScanCommand } from '@aws-sdk/lib-dynamodb';
import { startTestDb, type TestDb } from '../support/dynalite';
import { startPortal, type PortalProcess } from '../support/portal';

let db: TestDb;
let portal: PortalProcess;

beforeAll(async () => {
  db = await startTestDb();
  portal = await startPortal({
    dynamoEndpoint: db.endpoint,
    tablePrefix: db.prefix,
    env: { DRIVER: 'fake', SCHEDULER_ENABLED: 'false' },
  });
});
afterAll(async () => {
  await portal?.stop();
  await db?.stop();
});

async function countItems(table: string): Promise<number> {
  const r = await db.db.send(new ScanCommand({ TableName: table, Select: 'COUNT' }));
  return r.Count ?? 0;
}

const valid = { candidateName: 'Ada', challengeId: 'ts-rate-limiter-bugfix', durationMinutes: 60 };

async function expectError(res: Response, status: number, code?: string) {
  expect(res.status).toBe(status);
  expect(res.headers.get('content-type')).toContain('application/json');
  const body = await res.json();
  expect(typeof body.error?.code).toBe('string');
  expect(typeof body.error?.message).toBe('string');
  if (code) expect(body.error.code).toBe(code);
  return body.error as { code: string; message: string; fields?: Record<string, string> };
}

describe('admin API authentication', () => {
  it('refuses requests without the admin token', async () => {
    for (const path of [
      '/api/interviews',
      '/api/challenges',
      '/api/operations/op_x',
      '/api/events',
    ]) {
      await expectError(await fetch(portal.url + path), 401, 'unauthorized');
    }
  });

  it('refuses a wrong bearer token and a forged session cookie', async () => {
    await expectError(
      await fetch(portal.url + '/api/interviews', { headers: { authorization: 'Bearer nope' } }),
      401,
    );
    await expectError(
      await fetch(portal.url + '/api/interviews', {
        headers: { cookie: 'admin_session=99999999999999.forged' },
      }),
      401,
    );
  });

  it('signs in with the token and then accepts the session cookie', async () => {
    const bad = await fetch(portal.url + '/api/session', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ token: 'wrong' }),
    });
    await expectError(bad, 401);
    const res = await fetch(portal.url + '/api/session', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ token: portal.adminToken }),
    });
    expect(res.status).toBe(200);
    const setCookie = res.headers.get('set-cookie') ?? '';
    expect(setCookie).toMatch(/HttpOnly/i);
    expect(setCookie).toMatch(/SameSite=Strict/i);
    const cookie = setCookie.split(';')[0]!;
    const list = await fetch(portal.url + '/api/challenges', { headers: { cookie } });
    expect(list.status).toBe(200);
  });
});

describe('POST /api/interviews with bad bodies', () => {
  const cases: [string, unknown, string][] = [
    ['missing name', { ...valid, candidateName: undefined }, 'body.candidateName'],
    ['blank name', { ...valid, candidateName: '   ' }, 'body.candidateName'],
    ['bad email', { ...valid, candidateEmail: 'not-an-email' }, 'body.candidateEmail'],
    ['duration as string', { ...valid, durationMinutes: '60' }, 'body.durationMinutes'],
    ['duration too long', { ...valid, durationMinutes: 100000 }, 'body.durationMinutes'],
    ['fractional duration', { ...valid, durationMinutes: 1.5 }, 'body.durationMinutes'],
    ['bad start time', { ...valid, scheduledAt: 'tomorrow' }, 'body.scheduledAt'],
    ['start in the past', { ...valid, scheduledAt: '2001-01-01T00:00:00Z' }, 'body.scheduledAt'],
    ['negative budget', { ...valid, ai: { tokenBudget: -5 } }, 'body.ai.tokenBudget'],
    ['unknown field', { ...valid, admin: true }, 'body'],
    ['unknown challenge', { ...valid, challengeId: 'no-such-challenge' }, 'body.challengeId'],
    ['array body', [valid], 'body'],
  ];
  for (const [name, body, field] of cases) {
    it(`${name} → 400 naming ${field}`, async () => {
      const err = await expectError(
        await portal.api('/api/interviews', { method: 'POST', json: body }),
        400,
      );
      expect(Object.keys(err.fields ?? {}).some((k) => k.startsWith(field))).toBe(true);
    });
  }

  it('malformed JSON → 400', async () => {
    await expectError(
      await portal.api('/api/interviews', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: '{"candidateName": ',
      }),
      400,
    );
  });

  it('wrong content type → 415', async () => {
    await expectError(
      await portal.api('/api/interviews', {
        method: 'POST',
        headers: { 'content-type': 'text/plain' },
        body: 'x',
      }),
      415,
    );
  });

  it('oversized body → 413', async () => {
    const huge = { ...valid, candidateName: 'x'.repeat(300 * 1024) };
    await expectError(await portal.api('/api/interviews', { method: 'POST', json: huge }), 413);
  });

  it('wrote nothing for any of them', async () => {
    expect(await countItems(db.tables.interviews)).toBe(0);
    expect(await countItems(db.tables.operations)).toBe(0);
  });
});

describe('bad ids and queries', () => {
  it('interview ids that are not ids → 400; unknown ids → 404', async () => {
    await expectError(await portal.api('/api/interviews/not-an-id'), 400);
    await expectError(
      await portal.api('/api/interviews/iv_AAAAAAAAAAAAAAAAAAAAAA'),
      404,
      'not_found',
    );
    await expectError(
      await portal.api('/api/interviews/iv_AAAAAAAAAAAAAAAAAAAAAA/destroy', { method: 'POST' }),
      404,
    );
    await expectError(
      await portal.api('/api/interviews/iv_AAAAAAAAAAAAAAAAAAAAAA/extend', {
        method: 'POST',
        json: { minutes: 5 },
      }),
      404,
    );
  });

  it('extend with nothing to extend → 400', async () => {
    await expectError(
      await portal.api('/api/interviews/iv_AAAAAAAAAAAAAAAAAAAAAA/extend', {
        method: 'POST',
        json: {},
      }),
      400,
    );
  });

  it('list with a bad limit or cursor → 400', async () => {
    const e1 = await expectError(await portal.api('/api/interviews?limit=0'), 400);
    expect(e1.fields?.['query.limit']).toBeDefined();
    await expectError(await portal.api('/api/interviews?limit=abc'), 400);
    await expectError(await portal.api('/api/interviews?cursor=%%%'), 400);
    await expectError(await portal.api('/api/interviews?surprise=1'), 400);
  });

  it('operation ids that are not ids → 400; unknown → 404', async () => {
    await expectError(await portal.api('/api/operations/..%2F..%2Fetc'), 400);
    await expectError(await portal.api('/api/operations/op_unknown'), 404);
    await expectError(
      await portal.api('/api/operations/op_unknown/cancel', { method: 'POST' }),
      404,
    );
    await expectError(await portal.api('/api/operations/op_unknown?afterSeq=-1'), 400);
  });

  it('the process is still alive and healthy', async () => {
    const res = await fetch(portal.url + '/api/health');
    const body = await res.json();
    expect(body.database.ok).toBe(true);
    expect(portal.proc.exitCode).toBeNull();
  });
});
