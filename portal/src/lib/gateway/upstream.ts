import type { IncomingMessage } from 'node:http';
import OpenAI, {
  APIConnectionError,
  APIConnectionTimeoutError,
  APIError,
  APIUserAbortError,
} from 'openai';
import type { ChatCompletionCreateParamsStreaming } from 'openai/resources/chat/completions';
import { type GatewayError, gwErrors } from './errors';
import { encodeJsonBody } from './json-body';
import { postStream, type RequestTemplate } from './upstream-http';
import type { ChatRequest } from './request';
import type { UpstreamCredentials } from './settings';

/**
 * The provider, through the `openai` SDK: the SDK builds the request (base URL, auth and its
 * default headers) and classifies failures (its typed errors, mapped once below); the streamed
 * call itself goes over a keep-alive node:http connection (upstream-http.ts: the SDK's per-call
 * pipeline costs a quarter of the time-to-first-token budget) and its raw body is relayed as it
 * arrives. With an injected `fetch` (tests) the whole call goes through the SDK instead.
 *
 * Every call: `stream: true` with `stream_options.include_usage` (usage arrives in a last chunk
 * with empty `choices`), `max_completion_tokens` clamped by the ledger, `n` never sent (the
 * schema refuses anything but 1), only allow-listed parameters, no candidate identifiers, no
 * retries (a retried call could be generated twice; the client sees a typed error and decides),
 * and no SDK logging.
 */
export class Upstream {
  private client?: {
    key: string;
    baseURL: string | undefined;
    sdk: OpenAI;
    template?: Promise<RequestTemplate>;
  };

  constructor(
    private readonly deps: {
      credentials: () => UpstreamCredentials | null;
      timeoutMs: number;
      /** Send calls through the SDK with this fetch instead of the direct node:http path. */
      fetch?: typeof fetch;
    },
  ) {}

  configured(): boolean {
    return this.deps.credentials() !== null;
  }

  /**
   * Opens a streamed completion; resolves with the 2xx response (body unread) or throws a
   * GatewayError / abort. The body is encoded here, in slices for big prompts (json-body.ts):
   * one JSON.stringify of a megabyte prompt would block the event loop.
   */
  async open(
    body: ChatCompletionCreateParamsStreaming,
    signal: AbortSignal,
  ): Promise<UpstreamResponse> {
    const c = this.sdk();
    const apiKey = c.key;
    try {
      const bytes = await encodeJsonBody(body as unknown as Parameters<typeof encodeJsonBody>[0]);
      if (this.deps.fetch) {
        return await c.sdk
          .post('/chat/completions', {
            body: bytes,
            stream: true,
            signal,
            maxRetries: 0,
            headers: { 'content-type': 'application/json' },
          })
          .asResponse();
      }
      c.template ??= template(c.sdk);
      return await postStream(await c.template, bytes, signal, this.deps.timeoutMs);
    } catch (e) {
      throw mapUpstreamError(e, apiKey);
    }
  }

  private sdk(): NonNullable<Upstream['client']> {
    const creds = this.deps.credentials();
    if (!creds) throw gwErrors.notConfigured();
    const c = this.client;
    if (c && c.key === creds.apiKey && c.baseURL === creds.baseURL) return c;
    const sdk = new OpenAI({
      apiKey: creds.apiKey,
      baseURL: creds.baseURL ?? 'https://api.openai.com/v1',
      // Explicit nulls: the SDK would otherwise read OPENAI_ORG_ID etc. from the environment.
      organization: null,
      project: null,
      webhookSecret: null,
      timeout: this.deps.timeoutMs,
      maxRetries: 0,
      logLevel: 'off',
      ...(this.deps.fetch && { fetch: this.deps.fetch }),
    });
    this.client = { key: creds.apiKey, baseURL: creds.baseURL, sdk };
    return this.client;
  }
}

/** A 2xx provider response: from the node:http path, or a fetch Response when one was injected. */
export type UpstreamResponse = IncomingMessage | Response;

/** The SDK's request for a streamed chat completion, built once per credentials (no network). */
async function template(sdk: OpenAI): Promise<RequestTemplate> {
  const { req, url } = await sdk.buildRequest({
    method: 'post',
    path: '/chat/completions',
    body: new Uint8Array(0),
    stream: true,
    maxRetries: 0,
    headers: { 'content-type': 'application/json' },
  });
  const headers: Record<string, string> = {};
  // Per-call headers are set per call (length) or must not be shared between calls (idempotency).
  new Headers(req.headers as HeadersInit).forEach((v, k) => {
    if (k !== 'content-length' && k !== 'idempotency-key') headers[k] = v;
  });
  return { url: new URL(url), headers };
}

/** The body sent upstream: the allow-listed parameters, nulls dropped, the gateway's own limits applied. */
export function upstreamBody(
  req: ChatRequest,
  model: string,
  maxCompletionTokens: number,
): ChatCompletionCreateParamsStreaming {
  const body: Record<string, unknown> = {
    model,
    messages: req.messages,
    stream: true,
    stream_options: { include_usage: true },
    max_completion_tokens: maxCompletionTokens,
  };
  const pass = [
    'temperature',
    'top_p',
    'presence_penalty',
    'frequency_penalty',
    'seed',
    'stop',
    'response_format',
    'tools',
    'tool_choice',
    'parallel_tool_calls',
    'reasoning_effort',
  ] as const;
  for (const k of pass) {
    const v = req[k];
    if (v !== undefined && v !== null) body[k] = v;
  }
  return body as unknown as ChatCompletionCreateParamsStreaming;
}

/** Maps an SDK failure to the client's typed error; aborts are re-thrown for the caller to classify. */
export function mapUpstreamError(e: unknown, apiKey: string): GatewayError | APIUserAbortError {
  if (e instanceof APIUserAbortError) return e;
  if (e instanceof APIConnectionTimeoutError) return gwErrors.upstreamTimeout();
  if (e instanceof APIConnectionError) return gwErrors.upstreamUnreachable();
  if (e instanceof APIError) {
    const status = e.status ?? 0;
    if (status === 401 || status === 403) return gwErrors.upstreamAuth();
    if (status === 429) {
      const ra = Number(e.headers?.get('retry-after'));
      return gwErrors.upstreamRateLimited(
        Number.isFinite(ra) && ra > 0 ? Math.ceil(ra) : undefined,
      );
    }
    if (status === 408) return gwErrors.upstreamTimeout();
    if (status >= 400 && status < 500)
      return gwErrors.upstreamBadRequest(sanitize(providerMessage(e), apiKey));
    return gwErrors.upstreamError(status);
  }
  return gwErrors.upstreamUnreachable();
}

function providerMessage(e: APIError): string {
  const err = e.error as { message?: unknown } | undefined;
  return typeof err?.message === 'string' ? err.message : `status ${e.status}`;
}

/** Provider messages can quote credentials (OpenAI echoes part of a wrong key): strip anything key-like. */
export function sanitize(message: string, apiKey: string): string {
  let m = message.slice(0, 500);
  if (apiKey) m = m.split(apiKey).join('[redacted]');
  return m
    .replace(/\b(sk|key|rk)-[A-Za-z0-9_*\-]{4,}/g, '[redacted]')
    .replace(/Bearer\s+\S+/gi, 'Bearer [redacted]');
}
