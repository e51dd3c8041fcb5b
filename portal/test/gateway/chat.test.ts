import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Gateway } from '@/lib/gateway/gateway';
import {
  chatRequest,
  directive,
  getRequest,
  readSse,
  startHarness,
  user,
  type Harness,
} from './support/harness';

let h: Harness;
let gw: Gateway;
beforeAll(async () => {
  h = await startHarness();
  gw = await h.gateway();
});
afterAll(() => h.close());

describe('chat completions', () => {
  it('streams chunks and charges exactly the usage the provider reported', async () => {
    const { id, token } = await h.interview(gw, { budget: 10_000 });
    const res = await h.fetch(
      gw,
      chatRequest(token, {
        messages: [user('hello [[nonce:s1]]' + directive({ tokens: 7 }))],
        stream: true,
        stream_options: { include_usage: true },
      }),
    );
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toContain('text/event-stream');
    const sse = await readSse(res);
    expect(sse.done).toBe(true);
    expect(sse.text).toBe(' the code test value function return data');
    const rec = h.up.byNonce('s1')!;
    expect(sse.usage).toEqual(expect.objectContaining(rec.reported));
    // Upstream always got include_usage, a clamped max_completion_tokens, and no n.
    expect(rec.body.stream_options).toEqual({ include_usage: true });
    expect(rec.body.max_completion_tokens).toBe(200);
    expect(rec.body.n).toBeUndefined();
    await gw.close({ graceMs: 1000 });
    gw = await h.gateway();
    const u = (await gw.usage(id))!;
    expect(u.used).toBe(rec.reported!.prompt_tokens + rec.reported!.completion_tokens);
    expect(u.usedIn).toBe(rec.reported!.prompt_tokens);
    expect(u.remaining).toBe(10_000 - u.used);
    const page = await gw.transcriptPage(id, { limit: 50 });
    expect(page.messages.map((m) => m.role)).toEqual(['user', 'assistant']);
    const a = page.messages[1]!;
    expect(a).toMatchObject({
      status: 'complete',
      estimated: false,
      tokensIn: rec.reported!.prompt_tokens,
      tokensOut: 7,
      content: sse.text,
      model: 'gpt-4o-mini',
    });
  });

  it('hides the usage chunk from clients that did not ask for it', async () => {
    const { token } = await h.interview(gw);
    const sse = await readSse(
      await h.fetch(gw, chatRequest(token, { messages: [user('hi')], stream: true })),
    );
    expect(sse.done).toBe(true);
    expect(
      sse.chunks.every((c) => Array.isArray(c.choices) && (c.choices as unknown[]).length > 0),
    ).toBe(true);
  });

  it('answers non-streaming requests with one chat.completion including usage', async () => {
    const { token } = await h.interview(gw);
    const res = await h.fetch(gw, chatRequest(token, { messages: [user('hi [[nonce:ns1]]')] }));
    expect(res.status).toBe(200);
    const body = (await res.json()) as {
      object: string;
      choices: { message: { content: string } }[];
      usage: unknown;
    };
    expect(body.object).toBe('chat.completion');
    expect(body.choices[0]!.message.content.length).toBeGreaterThan(0);
    expect(body.usage).toEqual(expect.objectContaining(h.up.byNonce('ns1')!.reported));
  });

  it('refuses unknown parameters, n > 1 and models the interview may not use, naming the field', async () => {
    const { token } = await h.interview(gw, { model: 'gpt-4o-mini' });
    const bad = async (body: unknown) => {
      const res = await h.fetch(gw, chatRequest(token, body));
      expect(res.status).toBe(400);
      return ((await res.json()) as { error: { code: string; fields: Record<string, string> } })
        .error;
    };
    expect((await bad({ messages: [user('x')], n: 2 })).fields['body.n']).toBeDefined();
    expect(
      Object.values((await bad({ messages: [user('x')], logprobs: true })).fields).join(),
    ).toMatch(/logprobs/);
    expect((await bad({ messages: [user('x')], model: 'gpt-5-pro' })).fields['body.model']).toMatch(
      /gpt-4o-mini/,
    );
    expect((await bad({ messages: [] })).fields['body.messages']).toBeDefined();
    expect((await bad('{not json')).code).toBe('bad_request');
  });

  it('lists only the models the interview may use', async () => {
    const { token } = await h.interview(gw, { model: 'gpt-4.1-mini' });
    const res = await h.fetch(gw, getRequest('/api/ai/v1/models', token));
    expect(await res.json()).toEqual({
      object: 'list',
      data: [{ id: 'gpt-4.1-mini', object: 'model', created: 0, owned_by: 'interview-gateway' }],
    });
  });

  it('clamps max_completion_tokens to what the budget can still pay, then refuses below the minimum', async () => {
    const { id, token } = await h.interview(gw, { budget: 150 });
    const res = await h.fetch(
      gw,
      chatRequest(token, {
        messages: [user('hi [[nonce:clamp1]]' + directive({ tokens: 500 }))],
        stream: true,
        max_completion_tokens: 150,
      }),
    );
    const sse = await readSse(res);
    expect(sse.done).toBe(true);
    const rec = h.up.byNonce('clamp1')!;
    const sent = rec.body.max_completion_tokens as number;
    expect(sent).toBeLessThan(150);
    expect(rec.promptTokens + sent).toBeLessThanOrEqual(150);
    expect(rec.generated).toBe(sent);
    // What is left cannot pay for a prompt plus a useful answer: refused, with a clear code.
    const u = (await gw.usage(id))!;
    expect(u.used).toBe(rec.promptTokens + sent);
    expect(u.remaining).toBeLessThan(rec.promptTokens);
    const again = await h.fetch(
      gw,
      chatRequest(token, { messages: [user('more' + directive({ tokens: 500 }))] }),
    );
    expect(again.status).toBe(402);
    expect(again.headers.get('x-should-retry')).toBe('false');
    expect(((await again.json()) as { error: { code: string } }).error.code).toBe(
      'budget_exhausted',
    );
    expect((await gw.usage(id))!.used).toBeLessThanOrEqual(150);
  });

  it('works over any fetch transport (the web-stream reader), with the same accounting', async () => {
    const viaFetch = await h.gateway({ fetch: globalThis.fetch });
    const { id, token } = await h.interview(viaFetch);
    const sse = await readSse(
      await h.fetch(
        viaFetch,
        chatRequest(token, {
          messages: [user('hi [[nonce:gf1]]' + directive({ tokens: 5 }))],
          stream: true,
        }),
      ),
    );
    expect(sse.done).toBe(true);
    const cut = await readSse(
      await h.fetch(
        viaFetch,
        chatRequest(token, {
          messages: [user('x' + directive({ tokens: 20, dropAfter: 3 }))],
          stream: true,
        }),
      ),
    );
    expect(cut.error?.code).toBe('upstream_truncated');
    await viaFetch.returnSlices(id);
    const u = (await viaFetch.usage(id))!;
    const rec = h.up.byNonce('gf1')!;
    expect(u.used).toBeGreaterThan(rec.reported!.prompt_tokens + rec.reported!.completion_tokens);
    expect(u.used + u.remaining).toBe(u.budget);
  });

  it('limits each interview to its concurrent requests and its requests per minute (429, retry-after)', async () => {
    const limited = await h.gateway({
      env: { AI_MAX_CONCURRENT_PER_INTERVIEW: '1', AI_RATE_LIMIT_PER_MINUTE: '2' },
    });
    const { token } = await h.interview(limited);
    const other = await h.interview(limited);
    const slow = await h.fetch(
      limited,
      chatRequest(token, {
        messages: [user('x' + directive({ tokens: 30, tokenDelayMs: 10 }))],
        stream: true,
      }),
    );
    const busy = await h.fetch(limited, chatRequest(token, { messages: [user('y')] }));
    expect(busy.status).toBe(429);
    expect(busy.headers.get('retry-after')).toBe('1');
    expect(((await busy.json()) as { error: { code: string } }).error.code).toBe('rate_limited');
    // Another interview is not affected.
    expect(
      (await h.fetch(limited, chatRequest(other.token, { messages: [user('z')] }))).status,
    ).toBe(200);
    await readSse(slow);
    expect((await h.fetch(limited, chatRequest(token, { messages: [user('w')] }))).status).toBe(
      200,
    );
    const third = await h.fetch(limited, chatRequest(token, { messages: [user('v')] }));
    expect(third.status).toBe(429);
    expect(Number(third.headers.get('retry-after'))).toBeGreaterThan(1);
  });

  it('says plainly that AI is not configured when there is no provider key', async () => {
    const bare = await h.gateway({ env: { OPENAI_API_KEY: '' } });
    const { token } = await h.interview(bare);
    const res = await h.fetch(bare, chatRequest(token, { messages: [user('hi')] }));
    expect(res.status).toBe(503);
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe(
      'ai_not_configured',
    );
  });
});
