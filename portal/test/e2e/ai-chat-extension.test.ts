import { execFile } from 'node:child_process';
import { existsSync, lstatSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { promisify } from 'node:util';
import type { FrameLocator, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestDb, type TestDb } from '../support/dynalite';
import { startPortal, type PortalProcess } from '../support/portal';
import { launchChromium } from '../support/chromium';
import { startUpstream, type TestUpstream } from '../support/openai-upstream';
import { ctx, testDriver } from '../local/helpers';
import { layoutOf } from '@/lib/drivers/local/layout';
import { probeHealth } from '@/lib/drivers/local/process';

/**
 * The candidate's AI Assistant (instance/extension) end to end: the extension is packaged and
 * installed by its real build script, the REAL portal provisions a code-server (sandboxed, no
 * network: the extension reaches the gateway through the bridge), Chromium opens the candidate
 * link, and the test upstream stands in for the LLM provider. The host-side session is also
 * driven directly against the same gateway for the states a browser run would take long to reach.
 */

const repo = path.resolve(import.meta.dirname, '../../..');
const extensionPkg = JSON.parse(
  readFileSync(path.join(repo, 'instance/extension/package.json'), 'utf8'),
) as { publisher: string; name: string; version: string };
const EXTENSION_ID = `${extensionPkg.publisher}.${extensionPkg.name}`;
const CHALLENGE = 'py-log-aggregation';
const BUDGET = 5000;
/** The upstream's generated text for N tokens (see WORDS in openai-upstream.ts). */
const WORDS = [' the', ' code', ' test', ' value', ' function', ' return', ' data', ' list'];
const generated = (n: number) =>
  Array.from({ length: n }, (_, i) => WORDS[i % WORDS.length])
    .join('')
    .trim();
const fmt = (n: number) => n.toLocaleString('en-US');

// The extension's host modules are CommonJS without a vscode dependency: usable from Node as is.
const requireExt = createRequire(path.join(repo, 'instance/extension/src/'));
const { ChatSession } = requireExt('./chat-session.js') as { ChatSession: new (deps: any) => any };
const { GatewayClient } = requireExt('./gateway-client.js') as {
  GatewayClient: new (deps: any) => any;
};
const { MeterStream } = requireExt('./meter-stream.js') as { MeterStream: new (deps: any) => any };
const { InterviewConfig } = requireExt('./interview-config.js') as {
  InterviewConfig: new (deps?: any) => any;
};

interface View {
  id: string;
  status: string;
  candidateUrl?: string;
  instance?: Record<string, unknown>;
}

async function json<T>(res: Response | Promise<Response>): Promise<T> {
  const r = await res;
  const body = await r.text();
  if (!r.ok) throw new Error(`${r.status}: ${body}`);
  return JSON.parse(body) as T;
}

async function until<T>(
  what: string,
  probe: () => Promise<T | undefined | false>,
  timeoutMs = 20_000,
): Promise<T> {
  const end = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < end) {
    try {
      const v = await probe();
      if (v !== undefined && v !== false) return v;
    } catch (e) {
      last = e;
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`timed out waiting for ${what}${last ? `: ${String(last)}` : ''}`);
}

async function waitStatus(portal: PortalProcess, id: string, status: string): Promise<View> {
  return until(
    `interview ${id} ${status}`,
    async () => {
      const v = await json<View>(portal.api(`/api/interviews/${id}`));
      if (['failed', 'cancelled', 'ended'].includes(v.status) && v.status !== status)
        throw new Error(`interview is ${v.status}`);
      return v.status === status ? v : undefined;
    },
    60_000,
  );
}

/** Waits until the warm pool has a slot answering /healthz. */
async function waitForWarmSlot(dataDir: string): Promise<void> {
  const dir = path.join(dataDir, 'pool');
  await until(
    'a warm instance',
    async () => {
      if (!existsSync(dir)) return false;
      for (const slot of readdirSync(dir)) {
        const root = path.join(dir, slot);
        if (
          !lstatSync(root).isSymbolicLink() &&
          existsSync(path.join(root, 'warm.json')) &&
          (await probeHealth(path.join(root, 'run', 'ide.sock')))
        )
          return true;
      }
      return false;
    },
    30_000,
  );
}

/** The AI Assistant webview: two nested iframes, filtered by our extension id (VS Code has its own webviews). */
const chatView = (page: Page): FrameLocator =>
  page
    .frameLocator(`iframe.webview[src*="extensionId=${EXTENSION_ID}"]`)
    .frameLocator('#active-frame');

/** Opens the workbench through the candidate link and shows the AI Assistant view. */
async function openAssistant(page: Page, url?: string): Promise<FrameLocator> {
  if (url) await page.goto(url);
  await page.locator('.monaco-workbench').waitFor({ timeout: 45_000 });
  const view = chatView(page);
  const tab = page.getByRole('tab', { name: /^AI Assistant/ });
  await tab.waitFor({ timeout: 30_000 });
  // After a reload VS Code may restore the sidebar with the view already open, and clicking its
  // activity-bar tab then closes it: click only when it is not selected, and toggle once more if
  // the view still does not show up.
  if ((await tab.getAttribute('aria-selected')) !== 'true') await tab.click();
  for (let attempt = 0; ; attempt++) {
    try {
      await view.locator('#prompt').waitFor({ timeout: 10_000 });
      return view;
    } catch (e) {
      if (attempt === 2) throw e;
      await tab.click();
    }
  }
}

describe('the AI Assistant extension in the candidate IDE (real portal, code-server, Chromium)', () => {
  // Short: unix socket paths are limited to 107 bytes.
  const dataDir = mkdtempSync('/tmp/ae-');
  const extensionsDir = mkdtempSync('/tmp/ae-ext-');
  const UPSTREAM_KEY = 'sk-e2e-chat-upstream-key-51c2';
  let db: TestDb;
  let upstream: TestUpstream;
  let portal: PortalProcess;
  let chrome: Awaited<ReturnType<typeof launchChromium>>;
  let page: Page;
  let view: FrameLocator;
  let a: View;
  let answerText = '';

  beforeAll(async () => {
    const build = promisify(execFile)(
      process.execPath,
      [path.join(repo, 'instance/extension/scripts/build.mjs')],
      {
        env: { ...process.env, EXTENSIONS_DIR: extensionsDir },
      },
    );
    [db, upstream, chrome] = await Promise.all([
      startTestDb(),
      // Slow enough that the answer is visibly streamed (40 tokens over ~1.2 s).
      startUpstream({ apiKey: UPSTREAM_KEY, defaults: { tokens: 40, tokenDelayMs: 30 } }),
      launchChromium(),
      build,
    ]);
    expect(
      existsSync(
        path.join(extensionsDir, `${EXTENSION_ID}-${extensionPkg.version}`, 'media', 'chat.js'),
      ),
    ).toBe(true);
    portal = await startPortal({
      dynamoEndpoint: db.endpoint,
      tablePrefix: db.prefix,
      dataDir,
      env: {
        DRIVER: 'local',
        SANDBOX: 'auto',
        WARM_POOL_SIZE: '1',
        PROVISION_LEAD_SECONDS: '1',
        SCHEDULER_POLL_MS: '200',
        EXTENSIONS_DIR: extensionsDir,
        OPENAI_BASE_URL: upstream.url,
        OPENAI_API_KEY: UPSTREAM_KEY,
      },
    });
    await waitForWarmSlot(dataDir);
    const created = await json<View>(
      portal.api('/api/interviews', {
        method: 'POST',
        json: {
          candidateName: 'Ada',
          challengeId: CHALLENGE,
          durationMinutes: 30,
          ai: { tokenBudget: BUDGET },
        },
      }),
    );
    a = await waitStatus(portal, created.id, 'ready');
    // A warm instance's environment names no gateway: the extension must read the rewritten file.
    expect(a.instance).toMatchObject({ warm: true });
    page = await chrome.browser.newPage();
  }, 120_000);

  afterAll(async () => {
    await chrome?.cleanup();
    await portal?.stop('SIGTERM');
    // The portal's graceful stop keeps live instances: stop what this test started.
    const local = testDriver(dataDir, { sandbox: 'auto' });
    for (const id of await local.registry.ids()) await local.destroy(id, ctx()).catch(() => {});
    await db?.stop();
    await upstream?.close();
    rmSync(dataDir, { recursive: true, force: true });
    rmSync(extensionsDir, { recursive: true, force: true });
  });

  it('streams the answer to a question into the view and the meter goes down', async () => {
    view = await openAssistant(page, a.candidateUrl!);
    const tokens = view.locator('#tokens');
    await until(
      'the full budget on the meter',
      async () => (await tokens.textContent()) === `${fmt(BUDGET)} of ${fmt(BUDGET)} tokens left`,
    );
    expect(await view.locator('#time').textContent()).toMatch(/^(29|30) min left$/);
    expect(await view.locator('#prompt').isDisabled()).toBe(false);

    await view.locator('#prompt').fill('How do I count log lines per level? [[nonce:chat-1]]');
    await view.locator('#prompt').press('Enter');

    // Sample the answer while it streams: it must grow through partial text to the whole answer.
    const answer = view.locator('article.assistant .body').last();
    const expected = generated(40);
    const seen = new Set<string>();
    let stopWasEnabled = false;
    await until('the complete answer', async () => {
      const text = ((await answer.textContent()) ?? '').replace(/\s+/g, ' ').trim();
      if (text) seen.add(text);
      if (text && text !== expected && !(await view.locator('#stop').isDisabled()))
        stopWasEnabled = true;
      return text === expected;
    });
    const partial = [...seen].filter((t) => t !== expected);
    expect(partial.length, 'answer seen only complete: not streamed').toBeGreaterThan(0);
    for (const t of partial) expect(expected.startsWith(t), t).toBe(true);
    expect(stopWasEnabled).toBe(true);
    answerText = expected;

    // The meter follows the gateway's charge: what the provider reported for this request.
    const reported = upstream.byNonce('chat-1')!.reported!;
    const left = BUDGET - reported.prompt_tokens - reported.completion_tokens;
    await until(
      'the meter after the answer',
      async () => (await tokens.textContent()) === `${fmt(left)} of ${fmt(BUDGET)} tokens left`,
    );
    await view
      .locator('article.assistant .meta', {
        hasText: `${fmt(reported.prompt_tokens + reported.completion_tokens)} tokens`,
      })
      .waitFor({ timeout: 5000 });
    await until('Stop disabled again', () => view.locator('#stop').isDisabled());
    expect(await view.locator('#prompt').inputValue()).toBe('');
  }, 60_000);

  it('Stop cuts the answer in progress, and the next question carries the conversation', async () => {
    const answers = view.locator('article.assistant');
    await view
      .locator('#prompt')
      .fill('Write a long example. [[upstream {"tokens":400,"tokenDelayMs":40}]] [[nonce:chat-2]]');
    await view.locator('#prompt').press('Enter');
    await until(
      'streaming text',
      async () =>
        (await answers.count()) === 2 &&
        ((await answers.nth(1).locator('.body').textContent()) ?? '').length > 10,
    );
    await view.locator('#stop').click();
    await answers.nth(1).locator('.meta', { hasText: 'stopped' }).waitFor({ timeout: 10_000 });
    await until('the upstream aborted', async () => upstream.byNonce('chat-2')?.aborted);
    expect(upstream.byNonce('chat-2')!.generated).toBeLessThan(400);

    await view.locator('#prompt').fill('Thanks. [[upstream {"tokens":3}]] [[nonce:chat-3]]');
    await view.locator('#prompt').press('Enter');
    await until(
      'the third answer',
      async () =>
        (await answers.count()) === 3 &&
        ((await answers.nth(2).locator('.body').textContent()) ?? '').trim() === generated(3),
    );
    // System prompt + 3 questions + 2 answers (the stopped one with what arrived).
    expect(upstream.byNonce('chat-3')!.body.messages).toBe('[6 messages]');
  }, 30_000);

  it('"Add file/selection" attaches the open file to the next question', async () => {
    // Open the challenge's file in an editor (quick open), then attach it from the view.
    await page.locator('.part.editor').click();
    await page.keyboard.press('Control+P');
    await page.keyboard.type('log_stats.py');
    await page
      .locator('.quick-input-list .monaco-list-row', { hasText: 'log_stats.py' })
      .first()
      .waitFor({ timeout: 10_000 });
    await page.keyboard.press('Enter');
    await page
      .locator('.editor-group-container .tab', { hasText: 'log_stats.py' })
      .waitFor({ timeout: 10_000 });
    await view.locator('#add-context').click();
    await view.locator('#context li', { hasText: 'log_stats.py' }).waitFor({ timeout: 10_000 });

    await view
      .locator('#prompt')
      .fill('What does this file do? [[upstream {"tokens":2}]] [[nonce:chat-ctx]]');
    await view.locator('#prompt').press('Enter');
    await until('the answer', async () => upstream.byNonce('chat-ctx')?.done);
    await view
      .locator('article.user .ctx-labels', { hasText: 'log_stats.py' })
      .waitFor({ timeout: 5000 });
    expect(await view.locator('#context li').count()).toBe(0);
    // What the model got (the interviewer's transcript keeps it as sent): the question, then the file.
    const transcript = await json<{ messages: { role: string; content: string }[] }>(
      portal.api(`/api/interviews/${a.id}/transcript`),
    );
    const asked = transcript.messages.filter((m) => m.role === 'user').at(-1)!.content;
    expect(asked).toMatch(
      /^What does this file do\? .*\n\nContext: log_stats\.py\n```python\n"""Per-endpoint statistics/,
    );
  }, 30_000);

  it('a window reload restores the conversation from the gateway transcript', async () => {
    await page.reload();
    view = await openAssistant(page);
    const questions = view.locator('article.user .body');
    await until('the restored conversation', async () => (await questions.count()) === 4);
    expect(await questions.first().textContent()).toBe(
      'How do I count log lines per level? [[nonce:chat-1]]',
    );
    expect(
      ((await view.locator('article.assistant .body').first().textContent()) ?? '')
        .replace(/\s+/g, ' ')
        .trim(),
    ).toBe(answerText);
    expect(await view.locator('article.assistant .meta').nth(1).textContent()).toContain('stopped');
  }, 60_000);

  it('after the interviewer ends AI access the view says so and the input is disabled', async () => {
    await json(portal.api(`/api/interviews/${a.id}/ai/end`, { method: 'POST' }));
    await view
      .locator('#banner-title', { hasText: 'AI access has ended' })
      .waitFor({ timeout: 10_000 });
    expect(await view.locator('#banner-detail').textContent()).toContain(
      'The interviewer ended AI access',
    );
    await view.locator('#prompt:disabled').waitFor({ timeout: 5000 });
    expect(await view.locator('#send').isDisabled()).toBe(true);
    expect(await view.locator('#add-context').isDisabled()).toBe(true);
  }, 30_000);

  it('the host session: a spent budget is explained, the question given back, and more tokens reopen it', async () => {
    const b = await waitStatus(
      portal,
      (
        await json<View>(
          portal.api('/api/interviews', {
            method: 'POST',
            json: {
              candidateName: 'Bob',
              challengeId: CHALLENGE,
              durationMinutes: 30,
              ai: { tokenBudget: 20 },
            },
          }),
        )
      ).id,
      'ready',
    );
    // Its interview file as the portal wrote it, pointed at the portal itself (the test is outside the sandbox).
    const file = JSON.parse(readFileSync(layoutOf(dataDir, b.id).interviewFile, 'utf8')) as {
      interviewId: string;
      gatewayToken: string;
    };
    expect(file.interviewId).toBe(b.id);
    const settings = {
      source: 'file',
      interviewId: b.id,
      gateway: { url: `${portal.url}/api/ai/v1`, token: file.gatewayToken },
    };
    const client = new GatewayClient({ gateway: () => settings.gateway });
    const memo = new Map<string, unknown>();
    const session = new ChatSession({
      config: { read: () => settings },
      client,
      meterStream: (h: { onMeter(m: unknown): void; onRefused(e: unknown): void }) =>
        new MeterStream({ client, onMeter: h.onMeter, onRefused: h.onRefused }),
      memento: {
        get: (k: string) => memo.get(k),
        update: async (k: string, v: unknown) => void memo.set(k, v),
      },
    });
    try {
      session.reload();
      // The meter from /events, and the (empty) transcript restored.
      await until(
        'the meter',
        async () => session.snapshot().meter?.budget === 20 && session.status().kind === 'ready',
      );
      expect(session.status()).toMatchObject({ kind: 'ready', canSend: true });

      const refused = await session
        .send('A question far bigger than twenty tokens could ever answer, with detail.')
        .then(
          () => undefined,
          (e: { code: string; message: string; text: string }) => e,
        );
      expect(refused).toMatchObject({
        code: 'budget_exhausted',
        text: 'A question far bigger than twenty tokens could ever answer, with detail.',
      });
      expect(refused!.message).toContain('budget is spent');
      expect(session.snapshot().messages).toEqual([]);
      expect(session.status()).toMatchObject({
        kind: 'exhausted',
        canSend: false,
        title: 'The AI token budget is spent',
      });

      await json(
        portal.api(`/api/interviews/${b.id}/extend`, { method: 'POST', json: { tokens: 5000 } }),
      );
      await until('more tokens reopen the assistant', async () => session.status().canSend);
      expect(session.snapshot().meter).toMatchObject({ budget: 5020, left: 5020 });
      await expect(session.send('Now? [[upstream {"tokens":5}]]')).resolves.toEqual({
        status: 'complete',
      });
      expect(
        session.snapshot().messages.map((m: { role: string; text: string }) => [m.role, m.text]),
      ).toEqual([
        ['user', 'Now? [[upstream {"tokens":5}]]'],
        ['assistant', ` ${generated(5)}`],
      ]);
    } finally {
      session.dispose();
    }
  }, 40_000);
});

describe('the extension reads its interview file on every use', () => {
  it('no gateway fields: AI is not available, and the file being rewritten (warm claim) enables it', () => {
    let text = JSON.stringify({ interviewId: 'iv_x' });
    const config = new InterviewConfig({
      env: { INTERVIEW_CONFIG_FILE: '/run/ide/interview.json' },
      readFile: () => text,
    });
    expect(config.read()).toEqual({ source: 'file', interviewId: 'iv_x' });
    const session = new ChatSession({
      config,
      client: new GatewayClient({ gateway: () => config.read().gateway }),
      meterStream: () => ({ start() {}, stop() {}, restart() {} }),
      memento: { get: () => undefined, update: async () => {} },
    });
    session.reload();
    expect(session.status()).toMatchObject({
      kind: 'unconfigured',
      canSend: false,
      title: 'AI is not available in this interview',
    });
    text = JSON.stringify({
      interviewId: 'iv_x',
      gatewayUrl: 'http://127.0.0.1:9/v1/',
      gatewayToken: 'igw.x.y',
    });
    expect(config.read()).toEqual({
      source: 'file',
      interviewId: 'iv_x',
      gateway: { url: 'http://127.0.0.1:9/v1', token: 'igw.x.y' },
    });
    session.dispose();
  });

  it('a cold instance without a readable file falls back to its environment', () => {
    const config = new InterviewConfig({
      env: {
        INTERVIEW_CONFIG_FILE: '/nope',
        INTERVIEW_GATEWAY_URL: 'http://h/v1',
        INTERVIEW_GATEWAY_TOKEN: 't',
      },
      readFile: () => {
        throw new Error('ENOENT');
      },
    });
    expect(config.read()).toEqual({ source: 'env', gateway: { url: 'http://h/v1', token: 't' } });
  });
});
