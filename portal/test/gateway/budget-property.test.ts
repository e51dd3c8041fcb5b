import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Gateway } from '@/lib/gateway/gateway';
import { LedgerStore } from '@/lib/store/ledger';
import { MessageStore, type MessageItem } from '@/lib/store/messages';
import type { Behaviour } from '../support/openai-upstream';
import {
  chatRequest,
  directive,
  readSse,
  startHarness,
  user,
  type Harness,
} from './support/harness';

/**
 * I5 under randomized concurrency: two gateways (two slice holders sharing one table, as two
 * portal processes would) serve random concurrent requests for one interview — normal answers,
 * provider errors, dropped and malformed streams, missing usage, client disconnects, retries,
 * while the interviewer extends the budget. Afterwards:
 *  - charged ≤ budget, and budget = remaining + charged (nothing lost, nothing created);
 *  - the ledger equals the sum of the charges stored with the transcript;
 *  - every answer with provider usage was charged exactly that usage;
 *  - no request generated more than it had reserved.
 */
const SEEDS = Number(process.env.GATEWAY_PROPERTY_SEEDS ?? 10);
const REQUESTS = 36;

let h: Harness;
let gws: Gateway[];
let ledger: LedgerStore;
let messages: MessageStore;
beforeAll(async () => {
  h = await startHarness();
  const env = {
    AI_SLICE_TOKENS: '300',
    AI_MAX_COMPLETION_TOKENS: '120',
    AI_UPSTREAM_IDLE_MS: '300',
  };
  gws = [
    await h.gateway({ env, holderId: 'proc-a' }),
    await h.gateway({ env, holderId: 'proc-b' }),
  ];
  ledger = new LedgerStore(h.t.db, h.t.tables.aiLedger);
  messages = new MessageStore(h.t.db, h.t.tables.aiMessages);
});
afterAll(() => h.close());

function rng(seed: number) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function randomBehaviour(r: () => number): Behaviour {
  const tokens = 1 + Math.floor(r() * 160);
  const x = r();
  if (x < 0.45) return { tokens };
  if (x < 0.55) return { tokens, dropAfter: Math.floor(r() * tokens) };
  if (x < 0.63) return { tokens, noUsage: true };
  if (x < 0.7) return { tokens, malformedAfter: Math.floor(r() * tokens) };
  if (x < 0.75) return { tokens, errorAfter: Math.floor(r() * tokens) };
  if (x < 0.8) return { status: r() < 0.5 ? 429 : 500 };
  if (x < 0.85) return { tokens, reasoning: Math.floor(r() * 60) };
  return { tokens, tokenDelayMs: 1 }; // slow streams overlap with everything else
}

async function allMessages(id: string): Promise<MessageItem[]> {
  const out: MessageItem[] = [];
  let cursor: string | undefined;
  do {
    const page = await messages.list(id, { limit: 200, ...(cursor && { cursor }) });
    out.push(...page.items);
    cursor = page.cursor;
  } while (cursor);
  return out;
}

describe('budget under randomized concurrency (I5)', () => {
  it(`never charges more than the budget and the ledger equals the sum of charges (${SEEDS} seeds × ${REQUESTS} requests, 2 processes)`, async () => {
    const seen: Record<string, number> = {};
    for (let seed = 1; seed <= SEEDS; seed++) {
      const r = rng(seed * 7919);
      let budget = 400 + Math.floor(r() * 2600);
      const { id, token } = await h.interview(gws[0]!, { budget });
      const jobs: Promise<unknown>[] = [];
      const statuses: Record<number, number> = {};
      for (let i = 0; i < REQUESTS; i++) {
        const gw = gws[Math.floor(r() * gws.length)]!;
        const behaviour = randomBehaviour(r);
        const stream = r() < 0.8;
        const disconnectAfter = stream && r() < 0.15 ? 1 + Math.floor(r() * 5) : undefined;
        const retry = r() < 0.3;
        const mct = r() < 0.5 ? 1 + Math.floor(r() * 150) : undefined;
        const startIn = Math.floor(r() * 40);
        const extend = r() < 0.08 ? Math.floor(r() * 400) : 0;
        const send = async (attempt: number) => {
          const nonce = `s${seed}r${i}a${attempt}`;
          const body = {
            messages: [
              user(
                `question ${i} [[nonce:${nonce}]] ${'lorem '.repeat(Math.floor(r() * 30))}${directive(behaviour)}`,
              ),
            ],
            stream,
            ...(mct && { max_completion_tokens: mct }),
            ...(stream && r() < 0.5 && { stream_options: { include_usage: true } }),
          };
          const res = await h.fetch(gw, chatRequest(token, body));
          statuses[res.status] = (statuses[res.status] ?? 0) + 1;
          if (res.status !== 200) {
            await res.text();
            return false;
          }
          if (!stream) {
            await res.text();
            return true;
          }
          const sse = await readSse(res, disconnectAfter ? { stopAfter: disconnectAfter } : {});
          return sse.done;
        };
        jobs.push(
          (async () => {
            await new Promise((res) => setTimeout(res, startIn));
            if (extend) {
              await gws[0]!.extend(id, { tokens: extend });
              budget += extend;
            }
            const ok = await send(0);
            if (!ok && retry) await send(1);
          })(),
        );
      }
      await Promise.all(jobs);
      // Let cut streams settle, then both processes hand their slices back.
      await new Promise((res) => setTimeout(res, 50));
      await Promise.all(gws.map((g) => g.returnSlices(id)));
      await Promise.all(gws.map((g) => g.flush()));

      const l = (await ledger.get(id))!;
      const used = l.usedIn + l.usedOut;
      for (const [k, v] of Object.entries(statuses)) seen[k] = (seen[k] ?? 0) + v;
      const ctx = `seed ${seed}: budget ${budget}, used ${used}, remaining ${l.remaining}, sliced ${l.sliced}`;
      expect(l.budget, ctx).toBe(budget);
      expect(l.sliced, ctx).toBe(0);
      expect(l.openSlices?.size ?? 0, ctx).toBe(0);
      expect(used, ctx).toBeLessThanOrEqual(budget);
      expect(l.remaining + used, ctx).toBe(budget);

      const items = await allMessages(id);
      const responses = items.filter((m) => m.role === 'assistant');
      const charged = responses.reduce((n, m) => n + (m.tokensIn ?? 0) + (m.tokensOut ?? 0), 0);
      expect(charged, ctx).toBe(used);
      expect(l.requests, ctx).toBe(responses.length);

      // Per request: provider usage charged exactly; nothing generated beyond its reservation.
      const nonceOf = new Map(
        items
          .filter((m) => m.role === 'user')
          .map((m) => [m.requestId, /\[\[nonce:(\w+)\]\]/.exec(m.content)?.[1]]),
      );
      for (const m of responses) {
        const rec = h.up.byNonce(nonceOf.get(m.requestId)!);
        if (!rec) continue;
        const sentMax = rec.body.max_completion_tokens as number;
        expect(rec.generated, ctx).toBeLessThanOrEqual(sentMax);
        expect(rec.promptTokens + sentMax, ctx).toBeLessThanOrEqual(m.reserved!);
        if (rec.reported && !m.estimated) {
          expect(m.tokensIn, ctx).toBe(rec.reported.prompt_tokens);
          expect(m.tokensOut, ctx).toBe(rec.reported.completion_tokens);
        }
      }
    }
    // The runs did reach the end of budgets (refusals), not only the easy middle.
    expect(seen['200']).toBeGreaterThan(0);
    expect(seen['402']).toBeGreaterThan(0);
  });
});
