// @ts-check
'use strict';
const { readSse } = require('./sse-parser');

/**
 * @typedef {import('./interview-config').GatewayConfig} GatewayConfig
 * @typedef {{ role: 'system' | 'user' | 'assistant', content: string }} ChatMessage
 * @typedef {{
 *   budget: number, used: number, usedIn: number, usedOut: number, reserved: number,
 *   remaining: number, requests: number, deadlineAt: number, endedAt?: number, at?: number,
 * }} Meter
 * @typedef {{ role: string, content: string, at: string, status?: string, error?: string,
 *   tokensIn?: number, tokensOut?: number }} TranscriptMessage
 * @typedef {{ type: 'delta', text: string }
 *   | { type: 'usage', promptTokens: number, completionTokens: number }
 *   | { type: 'finish', reason: string }} ChatEvent
 */

/**
 * A refusal or failure of the gateway in its one error shape `{error: {code, message}}`.
 * `status` 0 means no HTTP answer (network) or a broken stream.
 */
class GatewayError extends Error {
  /**
   * @param {number} status
   * @param {string} code
   * @param {string} message
   * @param {{ retryAfterSeconds?: number, retryable?: boolean, midStream?: boolean }} [extra]
   */
  constructor(status, code, message, extra = {}) {
    super(message);
    this.name = 'GatewayError';
    this.status = status;
    this.code = code;
    this.retryAfterSeconds = extra.retryAfterSeconds;
    /** From `x-should-retry`: false means retrying cannot help (spent budget, passed deadline). */
    this.retryable = extra.retryable;
    this.midStream = extra.midStream === true;
  }
}

/**
 * The portal's metered AI gateway, called from the extension host only: the gateway token stays
 * in this process and never reaches the webview. `gateway()` is asked on every call because the
 * interview file can change under us (see interview-config.js).
 */
class GatewayClient {
  /**
   * @param {{ gateway: () => GatewayConfig | undefined, fetch?: typeof fetch }} deps
   */
  constructor(deps) {
    this.gateway = deps.gateway;
    this.fetch = deps.fetch ?? globalThis.fetch;
  }

  /**
   * Streams one chat completion. Yields text deltas as they arrive, then the usage; throws a
   * GatewayError for a refusal, a mid-stream error event or a stream that ends without [DONE];
   * an abort through `signal` surfaces as the fetch AbortError.
   * @param {{ messages: ChatMessage[], model?: string }} request
   * @param {AbortSignal} signal
   * @returns {AsyncGenerator<ChatEvent>}
   */
  async *chat(request, signal) {
    const res = await this.call('POST', '/chat/completions', {
      signal,
      body: {
        ...(request.model && { model: request.model }),
        messages: request.messages,
        stream: true,
        // The last chunk then carries the tokens this answer cost, shown under it.
        stream_options: { include_usage: true },
      },
      accept: 'text/event-stream',
    });
    if (!res.body) throw new GatewayError(0, 'stream_ended', 'The answer ended unexpectedly');
    for await (const ev of readSse(res.body)) {
      if (ev.data === '[DONE]') return;
      let chunk;
      try {
        chunk = JSON.parse(ev.data);
      } catch {
        throw new GatewayError(0, 'upstream_malformed', 'The gateway sent a malformed chunk', {
          midStream: true,
        });
      }
      if (chunk && chunk.error) {
        const e = chunk.error;
        throw new GatewayError(
          0,
          String(e.code ?? 'upstream_error'),
          String(e.message ?? 'The answer failed'),
          { midStream: true },
        );
      }
      const choice = Array.isArray(chunk?.choices) ? chunk.choices[0] : undefined;
      const text = choice?.delta?.content;
      if (typeof text === 'string' && text) yield { type: 'delta', text };
      if (choice?.finish_reason) yield { type: 'finish', reason: String(choice.finish_reason) };
      if (chunk?.usage && typeof chunk.usage.prompt_tokens === 'number') {
        yield {
          type: 'usage',
          promptTokens: chunk.usage.prompt_tokens,
          completionTokens: chunk.usage.completion_tokens ?? 0,
        };
      }
    }
    // The gateway ends every complete answer with [DONE]; anything else was cut.
    throw new GatewayError(0, 'stream_ended', 'The answer ended unexpectedly', { midStream: true });
  }

  /** @returns {Promise<string[]>} the models this interview may use */
  async models() {
    const body = await (await this.call('GET', '/models')).json();
    return Array.isArray(body?.data) ? body.data.map((/** @type {any} */ m) => String(m.id)) : [];
  }

  /**
   * The candidate's whole conversation, oldest first (all pages, up to `max` messages).
   * @returns {Promise<TranscriptMessage[]>}
   */
  async transcript(max = 2000) {
    /** @type {TranscriptMessage[]} */
    const all = [];
    /** @type {string | undefined} */
    let cursor;
    do {
      const query = `?limit=500${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`;
      /** @type {any} */
      const page = await (await this.call('GET', `/transcript${query}`)).json();
      if (Array.isArray(page?.messages)) all.push(...page.messages);
      cursor = typeof page?.nextCursor === 'string' ? page.nextCursor : undefined;
    } while (cursor && all.length < max);
    return all;
  }

  /**
   * Opens the meter's SSE stream (`event: usage`), resuming after `lastEventId`.
   * @param {string | undefined} lastEventId
   * @param {AbortSignal} signal
   */
  events(lastEventId, signal) {
    return this.call('GET', '/events', {
      signal,
      accept: 'text/event-stream',
      ...(lastEventId && { headers: { 'last-event-id': lastEventId } }),
    });
  }

  /**
   * @param {string} method
   * @param {string} path
   * @param {{ body?: unknown, signal?: AbortSignal, accept?: string, headers?: Record<string, string> }} [opts]
   * @returns {Promise<Response>} a 2xx response; anything else is thrown as GatewayError
   */
  async call(method, path, opts = {}) {
    const gw = this.gateway();
    if (!gw) throw new GatewayError(0, 'not_available', 'This interview has no AI assistant');
    /** @type {Response} */
    let res;
    try {
      res = await this.fetch(gw.url + path, {
        method,
        signal: opts.signal,
        headers: {
          authorization: `Bearer ${gw.token}`,
          accept: opts.accept ?? 'application/json',
          ...(opts.body !== undefined && { 'content-type': 'application/json' }),
          ...opts.headers,
        },
        ...(opts.body !== undefined && { body: JSON.stringify(opts.body) }),
      });
    } catch (e) {
      if (opts.signal?.aborted) throw e;
      throw new GatewayError(0, 'unreachable', 'The AI gateway could not be reached');
    }
    if (res.ok) return res;
    throw await errorOf(res);
  }
}

/** @param {Response} res */
async function errorOf(res) {
  let code = `http_${res.status}`;
  let message = `The AI gateway answered ${res.status}`;
  try {
    const body = await res.json();
    if (body?.error?.code) code = String(body.error.code);
    if (body?.error?.message) message = String(body.error.message);
  } catch {
    // not our error shape (a proxy's page): keep the status-based code
  }
  const retryAfter = Number(res.headers.get('retry-after'));
  const shouldRetry = res.headers.get('x-should-retry');
  return new GatewayError(res.status, code, message, {
    ...(Number.isFinite(retryAfter) && retryAfter > 0 && { retryAfterSeconds: retryAfter }),
    ...(shouldRetry !== null && { retryable: shouldRetry === 'true' }),
  });
}

module.exports = { GatewayClient, GatewayError };
