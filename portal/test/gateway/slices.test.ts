import { randomBytes } from 'node:crypto';
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createGateway, type Gateway } from '@/lib/gateway/gateway';
import type { UsageSnapshot } from '@/lib/gateway/ledger';
import { LedgerStore } from '@/lib/store/ledger';
import { MessageStore } from '@/lib/store/messages';
import {
  chatRequest,
  directive,
  readSse,
  startHarness,
  user,
  type Harness,
} from './support/harness';

let h: Harness;
let ledger: LedgerStore;
beforeAll(async () => {
  h = await startHarness();
  ledger = new LedgerStore(h.t.db, h.t.tables.aiLedger);
});
afterAll(() => h.close());

/** A document client that counts the commands sent through it. */
function counted(db: DynamoDBDocumentClient) {
  const counts: Record<string, number> = {};
  const proxy = new Proxy(db, {
    get(target, p, recv) {
      if (p === 'send') {
        return (cmd: { constructor: { name: string }; input: { TableName?: string } }) => {
          const k = `${cmd.constructor.name}:${cmd.input.TableName?.split('-').pop()}`;
          counts[k] = (counts[k] ?? 0) + 1;
          return target.send(cmd as never);
        };
      }
      return Reflect.get(target, p, recv);
    },
  });
  return { db: proxy, counts };
}

async function gatewayWith(
  db: DynamoDBDocumentClient,
  env: Record<string, string> = {},
  extra: { usageSink?: { usage(s: UsageSnapshot): void } } = {},
): Promise<Gateway> {
  return createGateway({
    db,
    tables: h.t.tables,
    config: h.config(env),
    log: pino({ level: 'silent' }),
    settingsKey: randomBytes(32),
    background: false,
    ...extra,
  });
}

const ask = (gw: Gateway, token: string, content = 'hi', extra: Record<string, unknown> = {}) =>
  h
    .fetch(gw, chatRequest(token, { messages: [user(content)], stream: true, ...extra }))
    .then(readSse);

describe('budget slices', () => {
  it('serves requests from a held slice without any database write before the answer', async () => {
    const { db, counts } = counted(h.t.db);
    const gw = await gatewayWith(db, { AI_SLICE_TOKENS: '100000' });
    const { token } = await h.interview(gw, { budget: 1_000_000 });
    await ask(gw, token);
    const afterFirst = { ...counts };
    for (let i = 0; i < 10; i++)
      expect((await ask(gw, token, `q${i}` + directive({ tokens: 3 }))).done).toBe(true);
    const delta = (k: string) => (counts[k] ?? 0) - (afterFirst[k] ?? 0);
    expect(delta('UpdateCommand:ledger')).toBe(0); // no ledger decrement per request
    expect(delta('PutCommand:ledger')).toBe(0); // no new slice
    expect(delta('GetCommand:ledger') + delta('QueryCommand:tokens')).toBe(0); // token verified from memory
    expect(delta('BatchWriteCommand:messages')).toBeLessThanOrEqual(10); // only the transcript, after the answer
    await gw.close({ graceMs: 0 });
  });

  it('takes smaller slices near the end of the budget and gives them back when idle', async () => {
    const gw = await gatewayWith(h.t.db, { AI_SLICE_TOKENS: '100000', AI_SLICE_IDLE_MS: '100' });
    const { id, token } = await h.interview(gw, { budget: 4000 });
    await ask(gw, token, 'x', { max_completion_tokens: 50 });
    const slices = await ledger.slices(id);
    expect(slices).toHaveLength(1);
    expect(slices[0]!.amount).toBeLessThanOrEqual(1000); // a quarter of what remained, not 100 000
    await new Promise((r) => setTimeout(r, 150));
    await gw.flush();
    expect(await ledger.slices(id)).toHaveLength(0);
    const l = (await ledger.get(id))!;
    expect(l.sliced).toBe(0);
    expect(l.remaining + l.usedIn + l.usedOut).toBe(4000);
    await gw.close({ graceMs: 0 });
  });

  it('gives a request bigger than the free slice its own slice (the slow path), returned after it settles', async () => {
    const gw = await gatewayWith(h.t.db, {
      AI_SLICE_TOKENS: '300',
      AI_MAX_COMPLETION_TOKENS: '2000',
    });
    const { id, token } = await h.interview(gw, { budget: 100_000 });
    await ask(gw, token, 'small', { max_completion_tokens: 10 });
    expect(
      (await ask(gw, token, 'big' + directive({ tokens: 5 }), { max_completion_tokens: 1500 }))
        .done,
    ).toBe(true);
    await new Promise((r) => setTimeout(r, 20));
    const slices = await ledger.slices(id);
    expect(slices.every((s) => s.amount <= 300)).toBe(true);
    await gw.close({ graceMs: 0 });
  });

  it("near the end of a budget, writes the next own slice's item ahead, so that take is one write", async () => {
    const gw = await gatewayWith(h.t.db, {
      AI_SLICE_TOKENS: '100000',
      AI_MAX_COMPLETION_TOKENS: '2000',
    });
    const { id, token } = await h.interview(gw, { budget: 2000 });
    const big = { max_completion_tokens: 600 }; // more than a quarter of what remains: each request takes its own slice
    const spareOf = async () => {
      await new Promise((r) => setTimeout(r, 50));
      const l = (await ledger.get(id))!;
      return (await ledger.slices(id)).filter((s) => !l.openSlices?.has(s.sliceId)); // written, not counted
    };
    let spares = await spareOf();
    for (let i = 0; i < 3 && spares.length === 0; i++) {
      expect((await ask(gw, token, `q${i}` + directive({ tokens: 3 }), big)).done).toBe(true);
      spares = await spareOf();
    }
    expect(spares).toHaveLength(1);
    expect(spares[0]!.holder).toBe(gw.holderId);

    expect((await ask(gw, token, 'next' + directive({ tokens: 3 }), big)).done).toBe(true);
    const answers = (
      await new MessageStore(h.t.db, h.t.tables.aiMessages).list(id, { limit: 100 })
    ).items.filter((m) => m.role === 'assistant');
    expect(answers.at(-1)!.sliceId).toBe(spares[0]!.sliceId); // the answer was reserved from the spare's slice

    // Closing returns every slice and deletes the spare written for the next request: the ledger adds up.
    await gw.close({ graceMs: 0 });
    expect(await ledger.slices(id)).toHaveLength(0);
    const l = (await ledger.get(id))!;
    expect(l.sliced).toBe(0);
    const charged = answers.reduce((n, m) => n + (m.tokensIn ?? 0) + (m.tokensOut ?? 0), 0);
    expect(l.usedIn + l.usedOut).toBe(charged);
    expect(l.remaining + l.usedIn + l.usedOut).toBe(2000);
  });

  it('the sweeper discards a slice item its holder never got counted (died between its two writes)', async () => {
    const gw = await gatewayWith(h.t.db);
    const { id } = await h.interview(gw, { budget: 1000 });
    const now = Date.now();
    await ledger.putSlice({
      interviewId: id,
      sliceId: 'orphan',
      holder: 'dead',
      amount: 500,
      leaseUntil: now - 60_000,
      now: now - 90_000,
    });
    const stats = await gw.sweep(now);
    expect(stats).toMatchObject({ examined: 1, returned: 0, discarded: 1 });
    expect(await ledger.slices(id)).toHaveLength(0);
    expect((await ledger.get(id))!.remaining).toBe(1000);
    await gw.close({ graceMs: 0 });
  });

  it('publishes usage events (used, reserved, remaining, deadline) after answers and extensions', async () => {
    const events: UsageSnapshot[] = [];
    const gw = await gatewayWith(h.t.db, {}, { usageSink: { usage: (s) => events.push(s) } });
    const { id, token } = await h.interview(gw, { budget: 5000 });
    await ask(gw, token, 'hello' + directive({ tokens: 4 }));
    await new Promise((r) => setTimeout(r, 300));
    const last = events.filter((e) => e.interviewId === id).at(-1)!;
    expect(last.used).toBeGreaterThan(4);
    expect(last.remaining).toBeLessThanOrEqual(5000 - last.used);
    expect(last.deadlineAt).toBeGreaterThan(Date.now());
    await gw.extend(id, { tokens: 1000 });
    expect(events.at(-1)).toMatchObject({ interviewId: id, budget: 6000 });
    await gw.close({ graceMs: 0 });
  });
});
