import { randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import pino from 'pino';
import { parseConfig } from '@/lib/config/env';
import { gatewayConfig, type GatewayConfig } from '@/lib/gateway/config';
import { createGateway, type Gateway } from '@/lib/gateway/gateway';
import { startTestDb, type TestDb } from '../../support/dynalite';
import { startUpstream, type Behaviour, type TestUpstream } from '../../support/openai-upstream';

/** Everything a gateway test needs: real dynalite, the test upstream, gateways, captured logs. */
export interface Harness {
  t: TestDb;
  up: TestUpstream;
  logs: string[];
  config(env?: Record<string, string>): GatewayConfig;
  gateway(opts?: {
    env?: Record<string, string>;
    holderId?: string;
    now?: () => number;
    background?: boolean;
    settingsKey?: Buffer | null;
    fetch?: typeof fetch;
  }): Promise<Gateway>;
  interview(
    gw: Gateway,
    opts?: { budget?: number; deadlineInMs?: number; model?: string; now?: number },
  ): Promise<{ id: string; token: string }>;
  /**
   * Sends a client's request to the gateway's node-native entry (`Gateway.serveHttp`) over a
   * real socket, as portal/server.ts serves it: one node:http server per gateway, started on
   * first use. Client disconnects are real (cancel the response body, or abort the signal).
   */
  fetch(gw: Gateway, request: Request): Promise<Response>;
  close(): Promise<void>;
}

export const TEST_ENV: Record<string, string> = {
  AI_SLICE_TOKENS: '2000',
  AI_SLICE_IDLE_MS: '60000',
  AI_SLICE_FLUSH_MS: '60000',
  AI_SWEEP_INTERVAL_MS: '600000',
  AI_MAX_COMPLETION_TOKENS: '200',
  AI_MIN_COMPLETION_TOKENS: '4',
  AI_RATE_LIMIT_PER_MINUTE: '100000',
  AI_MAX_CONCURRENT_PER_INTERVIEW: '1000',
  AI_UPSTREAM_TIMEOUT_MS: '5000',
  AI_UPSTREAM_IDLE_MS: '5000',
  LOG_LEVEL: 'debug',
};

export async function startHarness(opts: { upstream?: Behaviour } = {}): Promise<Harness> {
  const [t, up] = await Promise.all([
    startTestDb(),
    startUpstream({ defaults: opts.upstream ?? {} }),
  ]);
  const logs: string[] = [];
  const sink = new Writable({
    write(chunk, _enc, cb) {
      logs.push(String(chunk));
      cb();
    },
  });
  const log = pino({ level: 'debug' }, sink);
  const gateways: Gateway[] = [];
  const servers = new Map<Gateway, Promise<{ server: Server; url: string }>>();
  const h: Harness = {
    t,
    up,
    logs,
    config: (env = {}) =>
      gatewayConfig(
        parseConfig({ ...TEST_ENV, OPENAI_BASE_URL: up.url, OPENAI_API_KEY: up.apiKey, ...env }),
      ),
    async gateway(o = {}) {
      const gw = await createGateway({
        db: t.db,
        tables: t.tables,
        config: h.config(o.env),
        log,
        settingsKey: o.settingsKey === undefined ? randomBytes(32) : o.settingsKey,
        ...(o.holderId && { holderId: o.holderId }),
        ...(o.now && { now: o.now }),
        ...(o.fetch && { fetch: o.fetch }),
        background: o.background ?? false,
      });
      gateways.push(gw);
      return gw;
    },
    async interview(gw, o = {}) {
      const id = `iv_${randomBytes(16).toString('base64url')}`; // the interviews service's id shape
      const { token } = await gw.issueToken({
        id,
        deadlineAt: (o.now ?? Date.now()) + (o.deadlineInMs ?? 3_600_000),
        ai: { tokenBudget: o.budget ?? 100_000, ...(o.model && { model: o.model }) },
      });
      return { id, token };
    },
    async fetch(gw, request) {
      let served = servers.get(gw);
      if (!served) servers.set(gw, (served = serve(gw)));
      const { url } = await served;
      const u = new URL(request.url);
      const body =
        request.method === 'GET' || request.method === 'HEAD'
          ? undefined
          : await request.arrayBuffer();
      return fetch(`${url}${u.pathname}${u.search}`, {
        method: request.method,
        headers: request.headers,
        body,
        signal: request.signal,
      });
    },
    async close() {
      for (const served of servers.values()) {
        const { server } = await served;
        server.closeAllConnections();
        server.close();
      }
      await Promise.all(gateways.map((g) => g.close({ graceMs: 0 })));
      await Promise.all([t.stop(), up.close()]);
    },
  };
  return h;
}

/** A node:http server that hands every request to the gateway's entry (404 for what it does not take). */
export async function serve(gw: Gateway): Promise<{ server: Server; url: string }> {
  const server = createServer((req, res) => {
    if (!gw.serveHttp(req, res)) {
      res.writeHead(404, { 'content-type': 'text/plain' });
      res.end('not the gateway');
    }
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
}

/** A chat request as a client would send it. */
export function chatRequest(
  token: string | null,
  body: unknown,
  init: { signal?: AbortSignal; headers?: Record<string, string> } = {},
): Request {
  return new Request('http://portal.test/api/ai/v1/chat/completions', {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      ...(token && { authorization: `Bearer ${token}` }),
      ...init.headers,
    },
    body: typeof body === 'string' ? body : JSON.stringify(body),
    ...(init.signal && { signal: init.signal }),
  });
}

export function getRequest(path: string, token: string | null): Request {
  return new Request(`http://portal.test${path}`, {
    headers: token ? { authorization: `Bearer ${token}` } : {},
  });
}

export interface SseResult {
  chunks: Record<string, unknown>[];
  text: string;
  done: boolean;
  error?: { code: string; message: string };
  usage?: { prompt_tokens: number; completion_tokens: number };
  raw: string;
}

/** Reads an SSE response to the end (or until `stopAfter` content chunks, then cancels). */
export async function readSse(
  res: Response,
  opts: { stopAfter?: number } = {},
): Promise<SseResult> {
  const reader = res.body!.getReader();
  const dec = new TextDecoder();
  let raw = '';
  const out: SseResult = { chunks: [], text: '', done: false, raw: '' };
  let contentChunks = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    raw += dec.decode(value, { stream: true });
    let i: number;
    while ((i = raw.indexOf('\n\n')) >= 0) {
      const frame = raw.slice(0, i);
      raw = raw.slice(i + 2);
      out.raw += frame + '\n\n';
      const data = frame.replace(/^data: /, '');
      if (data === '[DONE]') {
        out.done = true;
        continue;
      }
      const obj = JSON.parse(data) as Record<string, unknown> & {
        error?: SseResult['error'];
        usage?: SseResult['usage'];
        choices?: { delta?: { content?: string } }[];
      };
      if (obj.error) {
        out.error = obj.error;
        continue;
      }
      out.chunks.push(obj);
      if (obj.usage) out.usage = obj.usage;
      const c = obj.choices?.[0]?.delta?.content;
      if (c) {
        out.text += c;
        contentChunks++;
      }
    }
    if (opts.stopAfter !== undefined && contentChunks >= opts.stopAfter) {
      await reader.cancel();
      break;
    }
  }
  return out;
}

export const user = (content: string) => ({ role: 'user' as const, content });
export const directive = (b: Behaviour) => `[[upstream ${JSON.stringify(b)}]]`;
