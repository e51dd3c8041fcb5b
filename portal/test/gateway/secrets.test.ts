import { randomBytes } from 'node:crypto';
import { GetCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as candidateTranscriptRoute from '@/app/api/ai/v1/transcript/route';
import * as candidateUsageRoute from '@/app/api/ai/v1/usage/route';
import * as settingsRoute from '@/app/api/settings/ai/route';
import type { Gateway } from '@/lib/gateway/gateway';
import { sanitize } from '@/lib/gateway/upstream';
import { setRuntime, type Runtime } from '@/lib/runtime';
import {
  chatRequest,
  directive,
  getRequest,
  readSse,
  startHarness,
  user,
  type Harness,
} from './support/harness';

/** I4 / I9: the provider key never leaves the server — not in responses, logs, transcripts, tokens. */
let h: Harness;
const ADMIN = 'admin-token-for-secret-tests-0123';
beforeAll(async () => {
  h = await startHarness();
});
afterAll(async () => {
  setRuntime(undefined);
  await h.close();
});

const admin = (method: string, body?: unknown) =>
  new Request('http://portal.test/api/settings/ai', {
    method,
    headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' },
    ...(body !== undefined && { body: JSON.stringify(body) }),
  });
const ctx = { params: Promise.resolve({}) };

describe('secrets stay secret', () => {
  it('the provider key appears in no response, header, log line, transcript or token', async () => {
    const gw = await h.gateway();
    const key = h.up.apiKey;
    const seen: string[] = [];
    const keep = async (res: Response) => {
      seen.push(JSON.stringify([...res.headers]));
      seen.push(await res.text());
    };
    const { id, token } = await h.interview(gw);
    seen.push(token);
    for (const b of [
      {},
      { status: 401 },
      { status: 429 },
      { status: 500 },
      { dropAfter: 2 },
      { malformedAfter: 1 },
      { errorAfter: 1 },
    ]) {
      await keep(
        await h.fetch(
          gw,
          chatRequest(token, { messages: [user('x' + directive(b))], stream: true }),
        ),
      );
      await keep(await h.fetch(gw, chatRequest(token, { messages: [user('x' + directive(b))] })));
    }
    await keep(await h.fetch(gw, getRequest('/api/ai/v1/models', token)));
    setRuntime({ adminToken: ADMIN, gateway: gw, log: console } as unknown as Runtime);
    await keep(await candidateUsageRoute.GET(getRequest('/api/ai/v1/usage', token), ctx));
    await keep(await candidateTranscriptRoute.GET(getRequest('/api/ai/v1/transcript', token), ctx));
    seen.push(JSON.stringify(await gw.transcriptPage(id, { limit: 500 })));
    seen.push(JSON.stringify(await gw.settingsView()));
    // A wrong key makes the provider quote part of it; that must not come through either.
    const wrong = `sk-wrong-${randomBytes(12).toString('hex')}`;
    const gw2 = await h.gateway({ env: { OPENAI_API_KEY: wrong } });
    const t2 = await h.interview(gw2);
    await keep(await h.fetch(gw2, chatRequest(t2.token, { messages: [user('x')] })));
    const everything = seen.join('\n') + h.logs.join('\n');
    expect(everything.length).toBeGreaterThan(1000);
    for (const secret of [key, key.slice(-12), wrong, wrong.slice(-12), wrong.slice(0, 14)])
      expect(everything).not.toContain(secret);
  });

  it('strips key-like text from provider messages it does pass on', () => {
    const key = 'sk-proj-abcdefghijklmnop';
    expect(sanitize(`Invalid model for key ${key} (sk-other-1234***wxyz)`, key)).toBe(
      'Invalid model for key [redacted] ([redacted])',
    );
  });

  it('stores the org key encrypted, shows it masked, never returns it; it wins over OPENAI_API_KEY', async () => {
    const gw = await h.gateway({ env: { OPENAI_API_KEY: 'sk-env-key-that-is-wrong-0000' } });
    setRuntime({ adminToken: ADMIN, gateway: gw, log: console } as unknown as Runtime);
    const { token } = await h.interview(gw);
    expect((await h.fetch(gw, chatRequest(token, { messages: [user('x')] }))).status).toBe(502);

    const put = await settingsRoute.PUT(admin('PUT', { apiKey: h.up.apiKey }), ctx);
    expect(put.status).toBe(200);
    const view = (await put.json()) as Record<string, unknown>;
    expect(view).toEqual({
      configured: true,
      source: 'settings',
      apiKeyMasked: `••••${h.up.apiKey.slice(-4)}`,
      baseUrl: h.up.url,
      updatedAt: expect.any(String),
    });
    const raw = await h.t.db.send(
      new GetCommand({ TableName: h.t.tables.settings, Key: { key: 'ai-provider' } }),
    );
    expect(JSON.stringify(raw.Item)).not.toContain(h.up.apiKey);
    expect(raw.Item!.apiKey.ciphertext).toBeTruthy();
    const got = await settingsRoute.GET(admin('GET'), ctx);
    expect(await got.text()).not.toContain(h.up.apiKey);
    // The saved key is used.
    expect(
      (
        await readSse(
          await h.fetch(gw, chatRequest(token, { messages: [user('x')], stream: true })),
        )
      ).done,
    ).toBe(true);

    // Another process with a different settings key cannot read it and says so, without crashing.
    const other = await h.gateway({ env: { OPENAI_API_KEY: '' }, settingsKey: randomBytes(32) });
    expect(await other.settingsView()).toMatchObject({
      configured: false,
      source: 'none',
      problem: expect.stringContaining('cannot be decrypted'),
    });

    const del = await settingsRoute.DELETE(admin('DELETE'), ctx);
    expect(await del.json()).toMatchObject({ configured: true, source: 'env' });
    const bad = await settingsRoute.PUT(admin('PUT', { apiKey: 'has space in it' }), ctx);
    expect(bad.status).toBe(400);
    expect(
      ((await bad.json()) as { error: { fields: Record<string, string> } }).error.fields[
        'body.apiKey'
      ],
    ).toBe('no whitespace');
  });
});
