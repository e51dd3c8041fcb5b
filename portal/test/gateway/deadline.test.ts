import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Gateway } from '@/lib/gateway/gateway';
import type { UsageSnapshot } from '@/lib/gateway/ledger';
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
const events: UsageSnapshot[] = [];
beforeAll(async () => {
  h = await startHarness();
  gw = await h.gateway();
});
afterAll(() => h.close());

const slow = (nonce: string, tokens = 300) => ({
  messages: [user(`long answer [[nonce:${nonce}]]` + directive({ tokens, tokenDelayMs: 10 }))],
  stream: true,
});
const code = async (res: Response) =>
  ((await res.json()) as { error: { code: string } }).error.code;

describe('the deadline is law', () => {
  it('cuts a running stream at the deadline, charges what was generated, then refuses new calls', async () => {
    const { id, token } = await h.interview(gw, { deadlineInMs: 1500 });
    const deadlineAt = Date.now() + 1500;
    const res = await h.fetch(gw, chatRequest(token, slow('dl1', 600)));
    expect(res.status).toBe(200); // started well before the deadline
    const sse = await readSse(res);
    const cutAt = Date.now();
    expect(sse.error?.code).toBe('deadline_reached');
    expect(sse.done).toBe(false);
    expect(sse.text.length).toBeGreaterThan(0);
    expect(cutAt).toBeGreaterThanOrEqual(deadlineAt - 100);
    // The stream ends once the cut answer is charged and stored (well under a second; loaded CI gets slack).
    expect(cutAt).toBeLessThan(deadlineAt + 3000);
    await new Promise((r) => setTimeout(r, 30));
    const rec = h.up.byNonce('dl1')!;
    expect(rec.aborted).toBe(true);
    // Generation stopped at the deadline: ~1.5 s of a 10 ms/token stream, not the 6 s it would take.
    expect(rec.generated).toBeLessThan(300);
    const { messages } = await gw.transcriptPage(id, { limit: 10 });
    expect(messages.at(-1)).toMatchObject({
      status: 'stopped',
      error: 'deadline_reached',
      estimated: true,
    });
    expect(messages.at(-1)!.content.length).toBeGreaterThan(0);
    const again = await h.fetch(gw, chatRequest(token, { messages: [user('again')] }));
    expect(again.status).toBe(403);
    expect(await code(again)).toBe('deadline_passed');
  });

  it('an extended deadline lets a running stream finish', async () => {
    const { id, token } = await h.interview(gw, { deadlineInMs: 1000 });
    const pending = h.fetch(gw, chatRequest(token, slow('dl2', 150))).then(readSse);
    await new Promise((r) => setTimeout(r, 200));
    const u = await gw.extend(id, { deadlineAt: Date.now() + 60_000 });
    expect(u!.deadlineAt).toBeGreaterThan(Date.now() + 50_000);
    const sse = await pending;
    expect(sse.done).toBe(true);
    expect(sse.error).toBeUndefined();
  });

  it('a deadline extended by another process is honoured here', async () => {
    const other = await h.gateway();
    const { id, token } = await h.interview(gw, { deadlineInMs: 1000 });
    expect(
      (
        await readSse(
          await h.fetch(gw, chatRequest(token, { messages: [user('hi')], stream: true })),
        )
      ).done,
    ).toBe(true);
    await other.extend(id, { deadlineAt: Date.now() + 60_000 });
    await new Promise((r) => setTimeout(r, 1100));
    // This process's cached deadline has passed: it re-reads before refusing.
    expect(
      (
        await readSse(
          await h.fetch(gw, chatRequest(token, { messages: [user('hi')], stream: true })),
        )
      ).done,
    ).toBe(true);
  });

  it('ending AI access cuts running streams and refuses new ones; the meter says so', async () => {
    const { id, token } = await h.interview(gw);
    const res = await h.fetch(gw, chatRequest(token, slow('end1')));
    expect(res.status).toBe(200);
    const pending = readSse(res);
    await new Promise((r) => setTimeout(r, 100));
    const ended = (await gw.endAccess(id))!;
    expect(ended.first).toBe(true);
    expect(ended.usage.endedAt).toBeDefined();
    expect((await gw.endAccess(id))!.first).toBe(false); // idempotent: the first end stands
    const sse = await pending;
    expect(sse.error?.code).toBe('ai_access_ended');
    const again = await h.fetch(gw, chatRequest(token, { messages: [user('again')] }));
    expect(again.status).toBe(403);
    expect(await code(again)).toBe('ai_access_ended');
    const after = (await gw.usage(id))!;
    expect(after.reserved).toBe(0);
    expect(after.used + after.remaining).toBe(after.budget);
  });

  it('extending tokens is atomic and visible in the meter at once', async () => {
    const { id } = await h.interview(gw, { budget: 1000 });
    const results = await Promise.all(
      Array.from({ length: 10 }, () => gw.extend(id, { tokens: 100 })),
    );
    expect(results.every((r) => r !== null)).toBe(true);
    const u = (await gw.usage(id))!;
    expect(u.budget).toBe(2000);
    expect(u.remaining).toBe(2000);
    expect(events.length).toBe(0); // no sink wired in this gateway
  });
});
