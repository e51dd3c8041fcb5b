import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Gateway } from '@/lib/gateway/gateway';
import { chatRequest, readSse, startHarness, user, type Harness } from './support/harness';
import { maxStallDuring } from './support/stall';
import { startUpstreamProcess } from './support/upstream-process';

/**
 * Hostile prompts through the whole gateway: 1 MB messages of one character, of special-token
 * text, of long whitespace and punctuation runs, with a budget tight enough that the gateway
 * must count them exactly. The event loop of the process serving them is never blocked 50 ms.
 * Measured with a 1 ms timer; the assertion counts the event-loop thread's CPU time within the
 * longest gap (support/stall.ts), so a 2-core CI box running other test files at the same time
 * does not fail it. The upstream runs in its own process (its tokenizer would otherwise block
 * this one), at the lowest CPU priority.
 */
let h: Harness;
let gw: Gateway;
let up: Awaited<ReturnType<typeof startUpstreamProcess>>;
beforeAll(async () => {
  h = await startHarness();
  up = await startUpstreamProcess({ apiKey: h.up.apiKey });
  gw = await h.gateway({
    env: {
      OPENAI_BASE_URL: up.url,
      AI_MAX_MESSAGE_BYTES: String(1_100_000),
      AI_UPSTREAM_TIMEOUT_MS: '20000',
    },
  });
  await gw.ready();
  // A portal process is warm when candidates use it: first-use costs (JIT, the HTTP client) are not per message.
  const { token } = await h.interview(gw);
  await readSse(
    await h.fetch(gw, chatRequest(token, { messages: [user('warm up')], stream: true })),
  );
});
afterAll(async () => {
  await up.close();
  await h.close();
});

const MB = 1_000_000;
const code = async (res: Response) =>
  ((await res.json()) as { error: { code: string; message: string } }).error;

describe('hostile input', () => {
  it('serves 1 MB hostile messages with exact counts and no event-loop stall over 50 ms', async () => {
    const contents = [
      'a'.repeat(MB),
      '<|endoftext|>'.repeat(Math.floor(MB / 13)),
      '<|im_start|>system\n'.repeat(20_000) + ' '.repeat(300_000) + '!'.repeat(300_000),
    ];
    // Requests are built before measuring: in the portal the body arrives over HTTP.
    const requests: { id: string; request: Request }[] = [];
    for (const content of contents) {
      // Budget below the byte bound (≥ 1 M) but above the exact count: only an exact count admits it.
      const { id, token } = await h.interview(gw, { budget: 700_000 });
      requests.push({
        id,
        request: chatRequest(token, {
          messages: [user(content)],
          stream: true,
          max_completion_tokens: 20,
        }),
      });
    }
    const { result, maxStallMs, maxBlockMs } = await maxStallDuring(async () => {
      const out: { status: number; done: boolean; id: string }[] = [];
      for (const { id, request } of requests) {
        const res = await h.fetch(gw, request);
        out.push({ status: res.status, done: res.status === 200 && (await readSse(res)).done, id });
      }
      return out;
    });
    expect(result.map((r) => r.status)).toEqual([200, 200, 200]);
    expect(result.every((r) => r.done)).toBe(true);
    expect(
      maxBlockMs,
      `longest block ${maxBlockMs.toFixed(1)} ms on CPU (${maxStallMs.toFixed(1)} ms wall)`,
    ).toBeLessThan(50);
    // Charged what the provider counted; the whole prompt is in the transcript (chunked).
    const recs = await up.records();
    for (const [i, r] of result.entries()) {
      await gw.returnSlices(r.id);
      const u = (await gw.usage(r.id))!;
      expect(u.usedIn).toBe(recs[recs.length - 3 + i]!.promptTokens);
      const first = await gw.transcriptPage(r.id, { limit: 10 }); // ends inside the long message: completed, next page after it
      const { messages } = first;
      const next = await gw.transcriptPage(r.id, { limit: 10, cursor: first.nextCursor! });
      expect(messages[0]!.role).toBe('user');
      expect(messages[0]!.content).toBe(contents[i]);
      expect(messages).toHaveLength(1);
      expect(next.messages.map((m) => m.role)).toEqual(['assistant']);
    }
  });

  it('refuses a prompt larger than the remaining budget with a clear message, before calling the provider', async () => {
    const before = (await up.records()).length;
    const { token } = await h.interview(gw, { budget: 50_000 });
    const request = chatRequest(token, { messages: [user('b'.repeat(MB))] });
    const {
      result: res,
      maxStallMs,
      maxBlockMs,
    } = await maxStallDuring(() => h.fetch(gw, request));
    expect(res.status).toBe(402);
    const err = await code(res);
    expect(err.code).toBe('budget_exhausted');
    expect(err.message).toMatch(/prompt needs about \d{6} tokens but only \d+ remain/);
    expect(
      maxBlockMs,
      `longest block ${maxBlockMs.toFixed(1)} ms on CPU (${maxStallMs.toFixed(1)} ms wall)`,
    ).toBeLessThan(50);
    expect((await up.records()).length).toBe(before);
  });

  it('caps message and request sizes with clear errors', async () => {
    const { token } = await h.interview(gw);
    const big = await h.fetch(gw, chatRequest(token, { messages: [user('c'.repeat(1_200_000))] }));
    expect(big.status).toBe(400);
    expect(JSON.stringify(await big.json())).toContain('body.messages.0.content');
    const huge = await h.fetch(
      gw,
      chatRequest(token, {
        messages: Array.from({ length: 5 }, () => user('d'.repeat(1_000_000))),
      }),
    );
    expect(huge.status).toBe(413);
    expect((await code(huge)).code).toBe('payload_too_large');
  });
});
