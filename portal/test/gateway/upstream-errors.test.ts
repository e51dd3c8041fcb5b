import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Gateway } from '@/lib/gateway/gateway';
import {
  chatRequest,
  directive,
  readSse,
  startHarness,
  user,
  type Harness,
} from './support/harness';

let h: Harness;
let gw: Gateway;
beforeAll(async () => {
  h = await startHarness();
  gw = await h.gateway({ env: { AI_UPSTREAM_TIMEOUT_MS: '300', AI_UPSTREAM_IDLE_MS: '300' } });
});
afterAll(() => h.close());

/** After every case: the ledger charged exactly what the transcript says, and no more than the budget. */
async function expectLedgerExact(id: string, budget: number) {
  await gw.close({ graceMs: 2000 });
  gw = await h.gateway({ env: { AI_UPSTREAM_TIMEOUT_MS: '300', AI_UPSTREAM_IDLE_MS: '300' } });
  const u = (await gw.usage(id))!;
  const { messages } = await gw.transcriptPage(id, { limit: 500 });
  const charged = messages
    .filter((m) => m.role === 'assistant')
    .reduce((n, m) => n + (m.tokensIn ?? 0) + (m.tokensOut ?? 0), 0);
  expect(u.used).toBe(charged);
  expect(u.reserved).toBe(0);
  expect(u.used + u.remaining).toBe(budget);
  return { u, messages };
}

async function errorOf(res: Response) {
  return ((await res.json()) as { error: { code: string; message: string } }).error;
}

describe('upstream failures become typed errors and the ledger stays exact', () => {
  it.each([
    [401, 502, 'upstream_auth'],
    [403, 502, 'upstream_auth'],
    [429, 429, 'upstream_rate_limited'],
    [500, 502, 'upstream_error'],
    [503, 502, 'upstream_error'],
  ])('provider status %i → %i %s, nothing charged', async (status, expected, code) => {
    const { id, token } = await h.interview(gw, { budget: 5000 });
    const res = await h.fetch(
      gw,
      chatRequest(token, { messages: [user('x' + directive({ status }))], stream: true }),
    );
    expect(res.status).toBe(expected);
    const err = await errorOf(res);
    expect(err.code).toBe(code);
    expect(err.message).not.toContain(h.up.apiKey.slice(0, 8));
    const { u, messages } = await expectLedgerExact(id, 5000);
    expect(u.used).toBe(0);
    expect(messages.at(-1)).toMatchObject({
      role: 'assistant',
      status: 'error',
      error: code,
      tokensIn: 0,
      tokensOut: 0,
    });
  });

  it('the provider rejecting the key becomes upstream_auth without quoting it', async () => {
    const wrong = await h.gateway({ env: { OPENAI_API_KEY: 'sk-wrong-key-1234567890' } });
    const { token } = await h.interview(wrong);
    const res = await h.fetch(wrong, chatRequest(token, { messages: [user('x')] }));
    expect(res.status).toBe(502);
    const text = await res.text();
    expect(text).toContain('upstream_auth');
    expect(text).not.toMatch(/sk-wrong|7890/);
  });

  it('a provider that does not answer in time → 504 upstream_timeout', async () => {
    const { id, token } = await h.interview(gw, { budget: 5000 });
    const res = await h.fetch(
      gw,
      chatRequest(token, {
        messages: [user('x' + directive({ headersDelayMs: 2000 }))],
        stream: true,
      }),
    );
    expect(res.status).toBe(504);
    expect((await errorOf(res)).code).toBe('upstream_timeout');
    await expectLedgerExact(id, 5000);
  });

  it('a stream that stalls mid-answer is cut with upstream_timeout and charged an estimate', async () => {
    const { id, token } = await h.interview(gw, { budget: 5000 });
    const sse = await readSse(
      await h.fetch(
        gw,
        chatRequest(token, {
          messages: [user('x' + directive({ tokens: 20, stallAfter: 3 }))],
          stream: true,
        }),
      ),
    );
    expect(sse.error?.code).toBe('upstream_timeout');
    expect(sse.done).toBe(false);
    const { messages } = await expectLedgerExact(id, 5000);
    expect(messages.at(-1)).toMatchObject({
      status: 'error',
      estimated: true,
      tokensOut: 3,
      content: ' the code test',
    });
  });

  it.each([
    ['dropped connection', { tokens: 20, dropAfter: 4 }, 'upstream_truncated', 4],
    ['malformed JSON', { tokens: 20, malformedAfter: 2 }, 'upstream_malformed', 2],
    ['error event', { tokens: 20, errorAfter: 5 }, 'upstream_error', 5],
    ['end without [DONE] or usage', { tokens: 6, endWithoutDone: true }, 'upstream_truncated', 6],
  ])('%s → %s, partial answer stored, estimate flagged', async (_name, behaviour, code, seen) => {
    const { id, token } = await h.interview(gw, { budget: 5000 });
    const sse = await readSse(
      await h.fetch(
        gw,
        chatRequest(token, { messages: [user('x' + directive(behaviour))], stream: true }),
      ),
    );
    expect(sse.error?.code).toBe(code);
    expect(sse.done).toBe(false);
    const { u, messages } = await expectLedgerExact(id, 5000);
    const last = messages.at(-1)!;
    expect(last).toMatchObject({ status: 'error', error: code, estimated: true, tokensOut: seen });
    expect(last.tokensIn).toBeGreaterThan(0);
    expect(u.estimatedRequests).toBe(1);
  });

  it('usage missing on a complete answer → charged an estimate, flagged, status complete', async () => {
    const { id, token } = await h.interview(gw, { budget: 5000 });
    const sse = await readSse(
      await h.fetch(
        gw,
        chatRequest(token, {
          messages: [user('x [[nonce:nu1]]' + directive({ tokens: 9, noUsage: true }))],
          stream: true,
          stream_options: { include_usage: true },
        }),
      ),
    );
    expect(sse.done).toBe(true);
    expect(sse.usage).toBeUndefined();
    const rec = h.up.byNonce('nu1')!;
    const { messages } = await expectLedgerExact(id, 5000);
    expect(messages.at(-1)).toMatchObject({
      status: 'complete',
      estimated: true,
      tokensOut: 9,
      tokensIn: rec.promptTokens,
    });
  });

  it('a reasoning model without usage is charged its whole completion reservation (hidden tokens)', async () => {
    const { id, token } = await h.interview(gw, { budget: 5000, model: 'o4-mini' });
    const sse = await readSse(
      await h.fetch(
        gw,
        chatRequest(token, {
          messages: [user('x' + directive({ tokens: 5, reasoning: 40, dropAfter: 3 }))],
          stream: true,
          max_completion_tokens: 100,
        }),
      ),
    );
    expect(sse.error?.code).toBe('upstream_truncated');
    const { messages } = await expectLedgerExact(id, 5000);
    expect(messages.at(-1)).toMatchObject({ estimated: true, tokensOut: 100 });
  });

  it('a client that disconnects mid-stream stops generation; the partial answer is stored as stopped', async () => {
    const { id, token } = await h.interview(gw, { budget: 5000 });
    const res = await h.fetch(
      gw,
      chatRequest(token, {
        messages: [user('x [[nonce:cd1]]' + directive({ tokens: 200, tokenDelayMs: 5 }))],
        stream: true,
      }),
    );
    const sse = await readSse(res, { stopAfter: 3 });
    expect(sse.text.length).toBeGreaterThan(0);
    await new Promise((r) => setTimeout(r, 100));
    const rec = h.up.byNonce('cd1')!;
    expect(rec.aborted).toBe(true);
    expect(rec.generated).toBeLessThan(200);
    const { messages } = await expectLedgerExact(id, 5000);
    const last = messages.at(-1)!;
    expect(last).toMatchObject({
      status: 'stopped',
      estimated: true,
      error: 'client_disconnected',
    });
    expect(last.tokensOut).toBeGreaterThanOrEqual(3);
    expect(last.tokensOut).toBeLessThanOrEqual(rec.generated);
  });
});
