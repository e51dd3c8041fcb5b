import { createHash } from 'node:crypto';
import { QueryCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as candidateTranscriptRoute from '@/app/api/ai/v1/transcript/route';
import * as transcriptRoute from '@/app/api/interviews/[id]/transcript/route';
import * as settingsRoute from '@/app/api/settings/ai/route';
import type { Gateway } from '@/lib/gateway/gateway';
import { setRuntime, type Runtime } from '@/lib/runtime';
import {
  chatRequest,
  getRequest,
  readSse,
  startHarness,
  user,
  type Harness,
} from './support/harness';

let h: Harness;
let gw: Gateway;
let clock = Date.now();
const ADMIN = 'admin-token-for-tests-0123456789';
beforeAll(async () => {
  h = await startHarness();
  gw = await h.gateway({ now: () => clock, env: { AI_ACCESS_CACHE_MS: '100' } });
  // The transcript route looks the interview up first (404 for unknown ones): every id is known here.
  setRuntime({
    adminToken: ADMIN,
    gateway: gw,
    log: console,
    interviews: { mustExist: async () => {} },
  } as unknown as Runtime);
});
afterAll(async () => {
  setRuntime(undefined);
  await h.close();
});

const code = async (res: Response) =>
  ((await res.json()) as { error: { code: string } }).error.code;
const chat = (token: string | null, headers?: Record<string, string>) =>
  h.fetch(
    gw,
    chatRequest(token, { messages: [user('hi')], stream: true }, { ...(headers && { headers }) }),
  );

describe('gateway token authentication', () => {
  it('issues a 256-bit token bound to its interview and stores only its SHA-256', async () => {
    const { id, token } = await h.interview(gw, { now: clock });
    expect(token).toMatch(/^igw\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]{43}$/);
    const stored = await h.t.db.send(
      new QueryCommand({
        TableName: h.t.tables.aiTokens,
        KeyConditionExpression: 'interviewId = :i',
        ExpressionAttributeValues: { ':i': id },
      }),
    );
    expect(stored.Items).toHaveLength(1);
    expect(stored.Items![0]!.tokenHash).toBe(createHash('sha256').update(token).digest('hex'));
    expect(JSON.stringify(stored.Items)).not.toContain(token.split('.')[2]);
  });

  it('refuses a missing, malformed, unknown or wrong token with 401', async () => {
    const { token } = await h.interview(gw, { now: clock });
    expect((await chat(null)).status).toBe(401);
    const missing = await chat(null, { authorization: 'Basic abc' });
    expect(await code(missing)).toBe('unauthorized');
    expect(await code(await chat('not-a-token'))).toBe('invalid_token');
    const [p, idPart] = token.split('.');
    expect(await code(await chat(`${p}.${idPart}.${'A'.repeat(43)}`))).toBe('invalid_token');
    const otherId = Buffer.from('iv-does-not-exist').toString('base64url');
    expect(await code(await chat(`${p}.${otherId}.${token.split('.')[2]}`))).toBe('invalid_token');
    expect((await readSse(await chat(token))).done).toBe(true);
  });

  it('refuses a revoked token at once in this process; in another, once its cached state ages or is invalidated', async () => {
    const other = await h.gateway({ now: () => clock, env: { AI_ACCESS_CACHE_MS: '100' } });
    const third = await h.gateway({ now: () => clock, env: { AI_ACCESS_CACHE_MS: '100' } });
    const { id, token } = await h.interview(gw, { now: clock });
    const viaOther = (g: Gateway) => h.fetch(g, chatRequest(token, { messages: [user('hi')] }));
    expect((await viaOther(other)).status).toBe(200);
    expect((await viaOther(third)).status).toBe(200);
    await gw.revoke(id);
    expect(await code(await chat(token))).toBe('token_revoked');
    // Pushed by the event hub: at once.
    third.invalidate(id);
    expect(await code(await viaOther(third))).toBe('token_revoked');
    // Not pushed: a busy process revalidates in the background after AI_ACCESS_CACHE_MS…
    clock += 200;
    await (await viaOther(other)).text();
    await new Promise((r) => setTimeout(r, 50));
    expect(await code(await viaOther(other))).toBe('token_revoked');
    // …and an idle one re-reads before serving.
    const idle = await h.gateway({ now: () => clock, env: { AI_ACCESS_CACHE_MS: '100' } });
    const t2 = await h.interview(gw, { now: clock });
    expect((await h.fetch(idle, chatRequest(t2.token, { messages: [user('hi')] }))).status).toBe(
      200,
    );
    await gw.revoke(t2.id);
    clock += 6_000;
    expect(await code(await h.fetch(idle, chatRequest(t2.token, { messages: [user('hi')] })))).toBe(
      'token_revoked',
    );
  });

  it('refuses after the deadline (the token expires with it) with 403 deadline_passed', async () => {
    const { token } = await h.interview(gw, { now: clock, deadlineInMs: 60_000 });
    expect((await readSse(await chat(token))).done).toBe(true);
    clock += 61_000;
    const res = await chat(token);
    expect(res.status).toBe(403);
    expect(await code(res)).toBe('deadline_passed');
  });

  it("interview A's token spends only A's budget and reads only A's conversation", async () => {
    const a = await h.interview(gw, { now: clock, budget: 5000 });
    const b = await h.interview(gw, { now: clock, budget: 5000 });
    await readSse(
      await h.fetch(gw, chatRequest(a.token, { messages: [user('secret of A')], stream: true })),
    );
    await readSse(
      await h.fetch(gw, chatRequest(b.token, { messages: [user('secret of B')], stream: true })),
    );
    await gw.returnSlices(a.id);
    await gw.returnSlices(b.id);
    const ua = (await gw.usage(a.id))!;
    const ub = (await gw.usage(b.id))!;
    expect(ua.requests).toBe(1);
    expect(ub.requests).toBe(1);
    const res = await candidateTranscriptRoute.GET(getRequest('/api/ai/v1/transcript', a.token), {
      params: Promise.resolve({}),
    });
    const body = JSON.stringify(await res.json());
    expect(body).toContain('secret of A');
    expect(body).not.toContain('secret of B');
  });

  it("interview A's token is refused by every admin route", async () => {
    const a = await h.interview(gw, { now: clock });
    const b = await h.interview(gw, { now: clock });
    const ctx = (id: string) => ({ params: Promise.resolve({ id }) });
    const asA = (path: string, method = 'GET', body?: unknown) =>
      new Request(`http://portal.test${path}`, {
        method,
        headers: { authorization: `Bearer ${a.token}`, 'content-type': 'application/json' },
        ...(body !== undefined && { body: JSON.stringify(body) }),
      });
    for (const id of [a.id, b.id]) {
      const res = await transcriptRoute.GET(asA(`/api/interviews/${id}/transcript`), ctx(id));
      expect(res.status).toBe(401);
    }
    expect((await settingsRoute.GET(asA('/api/settings/ai'), ctx(''))).status).toBe(401);
    expect(
      (
        await settingsRoute.PUT(
          asA('/api/settings/ai', 'PUT', { apiKey: 'sk-attacker-key' }),
          ctx(''),
        )
      ).status,
    ).toBe(401);
    expect((await settingsRoute.DELETE(asA('/api/settings/ai', 'DELETE'), ctx(''))).status).toBe(
      401,
    );
    // The interviewer can read it.
    const ok = await transcriptRoute.GET(
      new Request(`http://portal.test/api/interviews/${a.id}/transcript`, {
        headers: { authorization: `Bearer ${ADMIN}` },
      }),
      ctx(a.id),
    );
    expect(ok.status).toBe(200);
  });
});
