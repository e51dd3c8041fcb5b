import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Gateway } from '@/lib/gateway/gateway';
import { LedgerStore } from '@/lib/store/ledger';
import {
  chatRequest,
  directive,
  readSse,
  startHarness,
  TEST_ENV,
  user,
  type Harness,
} from './support/harness';

/**
 * Budget slices across real OS processes: this test process and a child process each run a
 * gateway on the same dynalite tables and serve one interview concurrently. Then the child
 * is killed mid-stream (SIGKILL: no shutdown code runs) and the sweeper returns its slice.
 */
const ENV = {
  ...TEST_ENV,
  AI_SLICE_TOKENS: '400',
  AI_MAX_COMPLETION_TOKENS: '100',
  AI_SLICE_LEASE_MS: '3000',
};

let h: Harness;
let gw: Gateway;
let ledger: LedgerStore;
beforeAll(async () => {
  h = await startHarness();
  gw = await h.gateway({ env: ENV, holderId: 'parent' });
  ledger = new LedgerStore(h.t.db, h.t.tables.aiLedger);
});
afterAll(() => h.close());

async function startChild(holderId: string): Promise<{ child: ChildProcess; url: string }> {
  const script = path.join(import.meta.dirname, 'support', 'gateway-child.ts');
  const env = { ...ENV, OPENAI_BASE_URL: h.up.url, OPENAI_API_KEY: h.up.apiKey };
  const child = spawn(
    process.execPath,
    [
      '--import',
      'tsx',
      script,
      JSON.stringify({ endpoint: h.t.endpoint, tables: h.t.tables, holderId, env }),
    ],
    {
      stdio: ['pipe', 'pipe', 'inherit'],
      cwd: path.join(import.meta.dirname, '..', '..'),
    },
  );
  const line = await new Promise<string>((resolve, reject) => {
    createInterface({ input: child.stdout! }).once('line', resolve);
    child.once('exit', (c) => reject(new Error(`child exited ${c}`)));
  });
  return { child, url: `http://127.0.0.1:${(JSON.parse(line) as { port: number }).port}` };
}

async function viaChild(
  url: string,
  token: string,
  body: unknown,
): Promise<{ status: number; done: boolean }> {
  const res = await fetch(`${url}/api/ai/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
    body: JSON.stringify(body),
  });
  if (res.status !== 200) {
    await res.text();
    return { status: res.status, done: false };
  }
  return { status: 200, done: (await readSse(res)).done };
}

describe('two OS processes share one budget', () => {
  it('never exceed it together, and the ledger equals the charges after both return their slices', async () => {
    const budget = 2500;
    const { id, token } = await h.interview(gw, { budget });
    const { child, url } = await startChild('child-1');
    const jobs: Promise<unknown>[] = [];
    for (let i = 0; i < 40; i++) {
      const body = {
        messages: [
          user(`q${i} ${directive({ tokens: 10 + ((i * 37) % 90), tokenDelayMs: i % 3 })}`),
        ],
        stream: true,
      };
      jobs.push(
        i % 2 === 0
          ? viaChild(url, token, body)
          : h
              .fetch(gw, chatRequest(token, body))
              .then(async (res) => (res.status === 200 ? readSse(res) : res.text())),
      );
    }
    await Promise.all(jobs);
    await new Promise<void>((r) => {
      child.once('exit', () => r());
      child.stdin!.end();
    });
    await gw.returnSlices(id);
    const l = (await ledger.get(id))!;
    expect(l.sliced).toBe(0);
    expect(l.usedIn + l.usedOut).toBeLessThanOrEqual(budget);
    expect(l.remaining + l.usedIn + l.usedOut).toBe(budget);
    const { messages } = await gw.transcriptPage(id, { limit: 500 });
    const charged = messages
      .filter((m) => m.role === 'assistant')
      .reduce((n, m) => n + m.tokensIn! + m.tokensOut!, 0);
    expect(charged).toBe(l.usedIn + l.usedOut);
    expect(l.requests).toBeGreaterThan(10);
  });

  it('a killed process holds its slice until the lease ends; then the sweeper returns what it did not charge', async () => {
    const budget = 3000;
    const { id, token } = await h.interview(gw, { budget });
    const { child, url } = await startChild('child-2');
    // One completed request through the child, then one still streaming when it dies.
    expect(
      (
        await viaChild(url, token, {
          messages: [user('first' + directive({ tokens: 20 }))],
          stream: true,
        })
      ).done,
    ).toBe(true);
    const res = await fetch(`${url}/api/ai/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
      body: JSON.stringify({
        messages: [user('second' + directive({ tokens: 500, tokenDelayMs: 20 }))],
        stream: true,
      }),
    });
    const reader = res.body!.getReader();
    await reader.read();
    child.kill('SIGKILL');
    await new Promise((r) => child.once('exit', r));
    await reader.read().catch(() => {});

    const before = (await gw.usage(id))!;
    expect(before.reserved).toBeGreaterThan(0); // the dead holder's slice is still counted as held
    expect(before.remaining).toBeLessThan(budget - before.used);
    // Before the lease ends the sweeper leaves it alone.
    expect((await gw.sweep(Date.now())).returned).toBe(0);
    const stats = await gw.sweep(Date.now() + 3000 + 2500);
    expect(stats.returned).toBe(1);

    const l = (await ledger.get(id))!;
    expect(l.sliced).toBe(0);
    expect(l.openSlices?.size ?? 0).toBe(0);
    const { messages } = await gw.transcriptPage(id, { limit: 50 });
    const charged = messages
      .filter((m) => m.role === 'assistant')
      .reduce((n, m) => n + m.tokensIn! + m.tokensOut!, 0);
    expect(l.usedIn + l.usedOut).toBe(charged);
    expect(l.remaining + charged).toBe(budget);
    // The budget is usable again from the surviving process.
    const sse = await readSse(
      await h.fetch(gw, chatRequest(token, { messages: [user('third')], stream: true })),
    );
    expect(sse.done).toBe(true);
  });
});
