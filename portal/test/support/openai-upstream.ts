/**
 * An OpenAI-compatible chat-completions server for tests and the gateway benchmark: the one
 * edge the gateway tests replace (DESIGN.md "Tests"). It behaves like the real API where the
 * gateway depends on it:
 *  - SSE chunks (`chat.completion.chunk`), `data: [DONE]`; with `stream_options.include_usage`
 *    every chunk has `usage: null` and a last chunk carries the usage with empty `choices`;
 *  - usage counted honestly: prompt tokens with tiktoken (the chat format of count-core.mjs),
 *    completion tokens = the tokens it generated (hidden reasoning tokens included), never
 *    more than `max_completion_tokens` (then `finish_reason: "length"`);
 *  - 401 for a wrong key, quoting part of it like OpenAI does (the gateway must not pass it on).
 *
 * Per request it can be told (a directive in the last user message, or defaults) to answer with
 * an HTTP error, stall, drop the connection, omit usage, send malformed JSON or an error event,
 * end without `[DONE]`, and how many tokens to generate how fast:
 *   `[[upstream {"tokens":50,"dropAfter":3}]]`
 * A `[[nonce:<id>]]` marker lets a test find the upstream's record of its request.
 *
 * Run standalone (benchmark, hostile-input test): `node --import tsx openai-upstream.ts`
 * prints `{"port":N}`; `GET /__stats` returns the records, `POST /__defaults` sets defaults.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import { pathToFileURL } from 'node:url';
import {
  contentText,
  countText,
  encodingForModel,
  promptSize,
} from '../../src/lib/gateway/count-core.mjs';

export interface Behaviour {
  /** Answer with this HTTP status and an OpenAI-style error body. */
  status?: number;
  /** Visible tokens to generate (default 12). */
  tokens?: number;
  /** Hidden reasoning tokens, generated first, counted in usage only. */
  reasoning?: number;
  headersDelayMs?: number;
  firstTokenDelayMs?: number;
  tokenDelayMs?: number;
  noUsage?: boolean;
  /** Destroy the socket after this many content chunks. */
  dropAfter?: number;
  malformedAfter?: number;
  errorAfter?: number;
  /** Stop sending after this many content chunks, keeping the connection open. */
  stallAfter?: number;
  /** End the response cleanly after the content, without usage or [DONE]. */
  endWithoutDone?: boolean;
}

export interface UpstreamRecord {
  seq: number;
  nonce?: string;
  model: string;
  body: Record<string, unknown>;
  behaviour: Behaviour;
  promptTokens: number;
  /** Tokens generated (reasoning + visible) before the answer ended or the client went away. */
  generated: number;
  /** The usage the server reported, if it got to send it. */
  reported?: { prompt_tokens: number; completion_tokens: number };
  aborted: boolean;
  done: boolean;
}

export interface TestUpstream {
  /** Base URL for OPENAI_BASE_URL (ends in /v1). */
  url: string;
  port: number;
  apiKey: string;
  records: UpstreamRecord[];
  defaults: Behaviour;
  byNonce(nonce: string): UpstreamRecord | undefined;
  close(): Promise<void>;
}

/** Each of these is one o200k/cl100k token. */
const WORDS = [' the', ' code', ' test', ' value', ' function', ' return', ' data', ' list'];

type Encoder = { encode_ordinary(t: string): Uint32Array };
const encoders = new Map<string, Encoder>();
function encoder(model: string): Encoder {
  const name = encodingForModel(model);
  let e = encoders.get(name);
  if (!e) {
    const { get_encoding } = createRequire(import.meta.url)('tiktoken') as {
      get_encoding(n: string): Encoder;
    };
    e = get_encoding(name);
    encoders.set(name, e);
  }
  return e;
}

const sleep = (ms: number) =>
  ms > 0 ? new Promise<void>((r) => setTimeout(r, ms)) : Promise.resolve();

export async function startUpstream(
  opts: { apiKey?: string; port?: number; defaults?: Behaviour } = {},
): Promise<TestUpstream> {
  const apiKey =
    opts.apiKey ??
    `sk-test-${Math.random().toString(36).slice(2)}${Math.random().toString(36).slice(2)}`;
  const records: UpstreamRecord[] = [];
  const state = { defaults: { ...opts.defaults } as Behaviour };
  const sockets = new Set<import('node:net').Socket>();
  const server: Server = createServer((req, res) => {
    handle(req, res).catch(() => res.destroy());
  });
  server.on('connection', (s) => {
    s.setNoDelay(true);
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });

  async function handle(req: IncomingMessage, res: ServerResponse) {
    const url = req.url ?? '/';
    if (req.method === 'GET' && url === '/__stats') return json(res, 200, records);
    if (req.method === 'POST' && url === '/__defaults') {
      state.defaults = JSON.parse(await readBody(req)) as Behaviour;
      return json(res, 200, state.defaults);
    }
    const auth = req.headers.authorization ?? '';
    if (auth !== `Bearer ${apiKey}`) {
      const presented = auth.replace(/^Bearer\s+/i, '');
      return json(res, 401, {
        error: {
          message: `Incorrect API key provided: ${presented.slice(0, 8)}***${presented.slice(-4)}. You can find your API key at https://platform.openai.com/account/api-keys.`,
          type: 'invalid_request_error',
          code: 'invalid_api_key',
        },
      });
    }
    if (req.method === 'GET' && url.startsWith('/v1/models')) {
      return json(res, 200, {
        object: 'list',
        data: [{ id: 'gpt-4o-mini', object: 'model', created: 0, owned_by: 'test' }],
      });
    }
    if (req.method !== 'POST' || !url.startsWith('/v1/chat/completions'))
      return json(res, 404, { error: { message: 'not found' } });
    const body = JSON.parse(await readBody(req)) as Record<string, unknown> & {
      model: string;
      messages: { role: string; content: unknown }[];
      stream?: boolean;
      stream_options?: { include_usage?: boolean };
      max_completion_tokens?: number;
      max_tokens?: number;
    };
    const last = [...body.messages].reverse().find((m) => m.role === 'user');
    const lastText = contentText(last?.content);
    const directive = /\[\[upstream (\{.*?\})\]\]/.exec(lastText);
    const behaviour: Behaviour = {
      ...state.defaults,
      ...(directive ? (JSON.parse(directive[1]!) as Behaviour) : {}),
    };
    const nonce = /\[\[nonce:([\w-]+)\]\]/.exec(lastText)?.[1];
    const enc = encoder(body.model);
    const rec: UpstreamRecord = {
      seq: records.length,
      ...(nonce && { nonce }),
      model: body.model,
      body: { ...body, messages: `[${body.messages.length} messages]` },
      behaviour,
      promptTokens: promptSize(body as never, (t: string) => countText(enc, t)),
      generated: 0,
      aborted: false,
      done: false,
    };
    records.push(rec);
    let closed = false;
    res.on('close', () => {
      if (!res.writableFinished) {
        closed = true;
        rec.aborted = true;
      }
    });
    await sleep(behaviour.headersDelayMs ?? 0);
    if (behaviour.status) {
      const status = behaviour.status;
      const message =
        status === 401
          ? `Incorrect API key provided: ${apiKey.slice(0, 8)}***${apiKey.slice(-4)}.`
          : status === 429
            ? 'Rate limit reached for requests'
            : 'The server had an error while processing your request.';
      res.setHeader('retry-after', '1');
      return json(res, status, {
        error: { message, type: status === 429 ? 'requests' : 'server_error', code: null },
      });
    }

    const limit = body.max_completion_tokens ?? body.max_tokens ?? Infinity;
    const reasoning = Math.min(behaviour.reasoning ?? 0, limit);
    const visible = Math.max(0, Math.min(behaviour.tokens ?? 12, limit - reasoning));
    const finish = reasoning + (behaviour.tokens ?? 12) > limit ? 'length' : 'stop';
    const id = `chatcmpl-test${rec.seq}`;
    const created = Math.floor(Date.now() / 1000);
    const usage = () => ({
      prompt_tokens: rec.promptTokens,
      completion_tokens: rec.generated,
      total_tokens: rec.promptTokens + rec.generated,
      completion_tokens_details: { reasoning_tokens: reasoning },
    });

    if (!body.stream) {
      rec.generated = reasoning + visible;
      const text = Array.from({ length: visible }, (_, i) => WORDS[i % WORDS.length]).join('');
      rec.reported = usage();
      rec.done = true;
      return json(res, 200, {
        id,
        object: 'chat.completion',
        created,
        model: body.model,
        choices: [
          {
            index: 0,
            message: { role: 'assistant', content: text, refusal: null },
            finish_reason: finish,
            logprobs: null,
          },
        ],
        usage: rec.reported,
      });
    }

    const withUsage = body.stream_options?.include_usage === true;
    const chunk = (delta: Record<string, unknown>, finishReason: string | null) =>
      `data: ${JSON.stringify({
        id,
        object: 'chat.completion.chunk',
        created,
        model: body.model,
        system_fingerprint: null,
        choices: [{ index: 0, delta, logprobs: null, finish_reason: finishReason }],
        ...(withUsage && { usage: null }),
      })}\n\n`;
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
    await sleep(behaviour.firstTokenDelayMs ?? 0);
    if (closed) return;
    rec.generated = reasoning;
    res.write(chunk({ role: 'assistant', content: '', refusal: null }, null));
    for (let i = 0; i < visible; i++) {
      if (closed) return;
      if (behaviour.dropAfter !== undefined && i >= behaviour.dropAfter) {
        // Let what was written reach the client first, as a real mid-answer drop would.
        await sleep(10);
        res.socket?.destroy();
        return;
      }
      if (behaviour.malformedAfter !== undefined && i >= behaviour.malformedAfter) {
        res.write('data: {"id": "broken", "choices": [\n\n');
        await sleep(5);
        res.end();
        return;
      }
      if (behaviour.errorAfter !== undefined && i >= behaviour.errorAfter) {
        res.write(
          `data: ${JSON.stringify({ error: { message: 'The model produced invalid content.', type: 'server_error' } })}\n\n`,
        );
        res.end();
        return;
      }
      if (behaviour.stallAfter !== undefined && i >= behaviour.stallAfter) return; // keep the socket open, send nothing
      if (i > 0) await sleep(behaviour.tokenDelayMs ?? 0);
      if (closed) return;
      rec.generated += 1;
      res.write(chunk({ content: WORDS[i % WORDS.length] }, null));
    }
    if (behaviour.endWithoutDone) {
      res.end();
      return;
    }
    res.write(chunk({}, finish));
    if (withUsage && !behaviour.noUsage) {
      rec.reported = usage();
      res.write(
        `data: ${JSON.stringify({ id, object: 'chat.completion.chunk', created, model: body.model, system_fingerprint: null, choices: [], usage: rec.reported })}\n\n`,
      );
    }
    rec.done = true;
    res.end('data: [DONE]\n\n');
  }

  encoder('gpt-4o-mini'); // load the tokenizer now, not inside the first request
  await new Promise<void>((r) => server.listen(opts.port ?? 0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}/v1`,
    port,
    apiKey,
    records,
    get defaults() {
      return state.defaults;
    },
    set defaults(b: Behaviour) {
      state.defaults = b;
    },
    byNonce: (n) => records.find((r) => r.nonce === n),
    close: () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  };
}

function json(res: ServerResponse, status: number, body: unknown) {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(text),
  });
  res.end(text);
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

// Standalone: `node --import tsx test/support/openai-upstream.ts [--port N] [--key K] [--defaults JSON]`
if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const arg = (name: string) => {
    const i = process.argv.indexOf(name);
    return i > 0 ? process.argv[i + 1] : undefined;
  };
  const up = await startUpstream({
    ...(arg('--key') && { apiKey: arg('--key') }),
    ...(arg('--port') && { port: Number(arg('--port')) }),
    ...(arg('--defaults') && { defaults: JSON.parse(arg('--defaults')!) as Behaviour }),
  });
  // Keep memory flat in long benchmarks: records are only needed by tests.
  if (process.argv.includes('--no-records')) up.records.push = () => 0;
  process.stdout.write(JSON.stringify({ port: up.port, url: up.url }) + '\n');
  process.stdin.resume();
  process.stdin.on('end', () => void up.close().then(() => process.exit(0)));
  process.on('SIGTERM', () => void up.close().then(() => process.exit(0)));
}
