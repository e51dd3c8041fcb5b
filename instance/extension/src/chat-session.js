// @ts-check
'use strict';
const { randomUUID } = require('node:crypto');
const { decideStatus, describeError, closingKind, meterLiftsRefusal } = require('./availability');
const { buildMessages, composeUserContent } = require('./prompt');

/**
 * @typedef {import('./gateway-client').GatewayClient} GatewayClient
 * @typedef {import('./gateway-client').GatewayError} GatewayError
 * @typedef {import('./gateway-client').Meter} Meter
 * @typedef {import('./gateway-client').TranscriptMessage} TranscriptMessage
 * @typedef {import('./interview-config').InterviewSettings} InterviewSettings
 * @typedef {import('./availability').Refusal} Refusal
 * @typedef {import('./availability').Status} Status
 * @typedef {import('./prompt').EditorContext} EditorContext
 * @typedef {import('./meter-stream').MeterStream} MeterStream
 *
 * @typedef {{
 *   id: string,
 *   role: 'user' | 'assistant',
 *   content: string,
 *   display?: string,
 *   contextLabels?: string[],
 *   status: 'complete' | 'streaming' | 'stopped' | 'error',
 *   error?: string,
 *   tokens?: { in: number, out: number },
 *   finish?: string,
 * }} Message
 *
 * @typedef {{
 *   status: Status,
 *   busy: boolean,
 *   meter: null | { budget: number, used: number, left: number, held: number, deadlineInMs: number },
 *   messages: { id: string, role: string, text: string, status: string, error?: string,
 *     contextLabels?: string[], tokens?: { in: number, out: number }, finish?: string }[],
 *   context: { label: string }[],
 *   models: string[],
 *   model?: string,
 *   notice?: string,
 * }} Snapshot  what the webview renders (no secrets: the token never leaves the host)
 *
 * @typedef {{ push: 'snapshot', data: Snapshot } | { push: 'delta', data: { id: string, text: string } }} Push
 */

/** A request refused with a closed state or a plain failure, with the question to put back. */
class SendRefused extends Error {
  /** @param {string} code @param {string} message @param {string} [text] */
  constructor(code, message, text) {
    super(message);
    this.code = code;
    this.text = text;
  }
}

const CLEARED_KEY = 'interviewAi.clearedAt';

/**
 * The conversation and everything the view shows, owned by the extension host so it survives the
 * webview being hidden and re-created. It asks the interview file for the gateway on every use,
 * follows the meter, restores the conversation from the gateway's transcript when the host
 * starts fresh (window reload), and runs one answer at a time.
 */
class ChatSession {
  /**
   * @param {{
   *   config: { read(): InterviewSettings },
   *   client: GatewayClient,
   *   meterStream: (handlers: {
   *     onMeter(m: Meter): void,
   *     onRefused(e: GatewayError): void,
   *   }) => Pick<MeterStream, 'start' | 'stop' | 'restart'>,
   *   memento: { get(key: string): unknown, update(key: string, value: unknown): PromiseLike<void> },
   *   now?: () => number,
   * }} deps
   */
  constructor(deps) {
    this.deps = deps;
    this.now = deps.now ?? Date.now;
    /** @type {InterviewSettings} */
    this.settings = { source: 'none' };
    this.gatewayKey = '';
    /** @type {string | undefined} */
    this.interviewId = undefined;
    /** @type {Message[]} */
    this.messages = [];
    /** @type {EditorContext[]} */
    this.context = [];
    /** @type {Meter | undefined} */
    this.meter = undefined;
    /** @type {Refusal | undefined} */
    this.refusal = undefined;
    /** @type {string | undefined} */
    this.notice = undefined;
    this.restoring = false;
    this.restoreGeneration = 0;
    /** @type {{ id: string, abort: AbortController } | undefined} */
    this.busy = undefined;
    /** @type {string[]} */
    this.models = [];
    /** @type {string | undefined} */
    this.model = undefined;
    /** @type {Set<(p: Push) => void>} */
    this.listeners = new Set();
    /** @type {ReturnType<typeof setTimeout> | undefined} */
    this.deadlineTimer = undefined;
    this.meterStream = deps.meterStream({
      onMeter: (m) => this.onMeter(m),
      onRefused: (e) => this.noteRefusal(e),
    });
  }

  /**
   * Re-reads the interview file (it changed, or the view asks). A different gateway or token
   * (warm instance claimed, token reissued) resets what the old one said and reconnects.
   */
  reload() {
    this.settings = this.deps.config.read();
    const gw = this.settings.gateway;
    const key = gw ? `${gw.url}\n${gw.token}\n${this.settings.interviewId ?? ''}` : '';
    if (key === this.gatewayKey) return this.emitSnapshot();
    this.gatewayKey = key;
    this.refusal = undefined;
    this.meter = undefined;
    // Another interview's conversation must not be shown or sent (a reused instance).
    const id = this.settings.interviewId;
    if (id && this.interviewId && id !== this.interviewId) this.messages = [];
    if (id) this.interviewId = id;
    if (gw) {
      this.meterStream.restart();
      void this.restore();
      void this.loadModels();
    } else {
      this.meterStream.stop();
    }
    this.emitSnapshot();
  }

  /** @param {(p: Push) => void} listener @returns {{ dispose(): void }} */
  onPush(listener) {
    this.listeners.add(listener);
    return { dispose: () => void this.listeners.delete(listener) };
  }

  /** @returns {Status} */
  status() {
    return decideStatus({
      gatewayConfigured: this.settings.gateway !== undefined,
      ...(this.settings.problem && { configProblem: this.settings.problem }),
      ...(this.meter && { meter: this.meter }),
      ...(this.refusal && { refusal: this.refusal }),
      restoring: this.restoring,
      now: this.now(),
    });
  }

  /** @returns {Snapshot} */
  snapshot() {
    const m = this.meter;
    const left = m ? Math.max(0, m.budget - m.used) : 0;
    return {
      status: this.status(),
      busy: this.busy !== undefined,
      meter: m
        ? {
            budget: m.budget,
            used: m.used,
            left,
            held: Math.max(0, left - Math.max(0, m.remaining)),
            deadlineInMs: m.deadlineAt - this.now(),
          }
        : null,
      messages: this.messages.map((x) => ({
        id: x.id,
        role: x.role,
        text: x.display ?? x.content,
        status: x.status,
        ...(x.error && { error: x.error }),
        ...(x.contextLabels && { contextLabels: x.contextLabels }),
        ...(x.tokens && { tokens: x.tokens }),
        ...(x.finish && { finish: x.finish }),
      })),
      context: this.context.map((c) => ({ label: c.label })),
      models: this.models,
      ...(this.model && { model: this.model }),
      ...(this.notice && { notice: this.notice }),
    };
  }

  /**
   * Asks the question with the attached context and streams the answer. Resolves when the answer
   * ends (complete, stopped or failed mid-way: the conversation shows which). Rejects with
   * SendRefused when nothing was asked (closed state, or refused before answering): the question
   * is then not in the conversation and `text` is given back to the input.
   * @param {string} text
   * @returns {Promise<{ status: Message['status'] }>}
   */
  async send(text) {
    const question = text.trim();
    const status = this.status();
    if (!status.canSend)
      throw new SendRefused(status.kind, status.title || 'The assistant is not ready', text);
    if (this.busy)
      throw new SendRefused('busy', 'Wait for the answer in progress, or stop it', text);
    if (!question && this.context.length === 0)
      throw new SendRefused('empty', 'Type a question first', text);
    const contexts = this.context;
    const content = composeUserContent(question || 'Explain this code.', contexts);
    const history = this.messages.map((m) => ({
      role: m.role,
      content: m.content,
      status: m.status,
    }));
    /** @type {Message} */
    const user = {
      id: randomUUID(),
      role: 'user',
      content,
      display: question || 'Explain this code.',
      status: 'complete',
      ...(contexts.length > 0 && { contextLabels: contexts.map((c) => c.label) }),
    };
    /** @type {Message} */
    const answer = { id: randomUUID(), role: 'assistant', content: '', status: 'streaming' };
    const abort = new AbortController();
    this.messages.push(user, answer);
    this.context = [];
    this.notice = undefined;
    this.busy = { id: answer.id, abort };
    this.emitSnapshot();
    try {
      for await (const ev of this.deps.client.chat(
        { messages: buildMessages(history, content), ...(this.model && { model: this.model }) },
        abort.signal,
      )) {
        if (ev.type === 'delta') {
          answer.content += ev.text;
          this.emit({ push: 'delta', data: { id: answer.id, text: ev.text } });
        } else if (ev.type === 'usage') {
          answer.tokens = { in: ev.promptTokens, out: ev.completionTokens };
        } else if (ev.type === 'finish') {
          answer.finish = ev.reason;
        }
      }
      answer.status = 'complete';
    } catch (e) {
      if (abort.signal.aborted) {
        answer.status = 'stopped';
      } else {
        const err = /** @type {GatewayError} */ (e);
        const code = err?.name === 'GatewayError' ? err.code : 'unreachable';
        const words = describeError({
          code,
          message: err?.message ?? '',
          ...(err?.retryAfterSeconds && { retryAfterSeconds: err.retryAfterSeconds }),
          ...(err?.retryable !== undefined && { retryable: err.retryable }),
        });
        if (err?.name === 'GatewayError') this.noteRefusal(err, false);
        // Refused before any answer (an HTTP error, not a broken stream): the gateway kept
        // nothing, so neither do we — the question goes back to the input box.
        if (err?.name === 'GatewayError' && err.status > 0 && !err.midStream && !answer.content) {
          this.messages = this.messages.filter((m) => m !== user && m !== answer);
          this.context = contexts;
          this.notice = words;
          throw new SendRefused(code, words, text);
        }
        answer.status = 'error';
        answer.error = words;
      }
    } finally {
      this.busy = undefined;
      this.emitSnapshot();
    }
    return { status: answer.status };
  }

  /** Stops the answer in progress (the request is aborted; the gateway charges what was generated). */
  stop() {
    this.busy?.abort.abort();
  }

  /** @param {EditorContext} ctx */
  addContext(ctx) {
    // Same file and range twice is one context.
    this.context = this.context.filter((c) => c.label !== ctx.label).concat(ctx);
    this.emitSnapshot();
  }

  /** @param {number} index */
  removeContext(index) {
    this.context = this.context.filter((_, i) => i !== index);
    this.emitSnapshot();
  }

  /**
   * Starts over: earlier turns are no longer sent (fewer tokens per question) and, after a window
   * reload, not restored. The interviewer's transcript keeps everything.
   */
  async newConversation() {
    this.stop();
    this.messages = [];
    this.context = [];
    this.notice = undefined;
    this.restoreGeneration++;
    this.restoring = false;
    await this.deps.memento.update(CLEARED_KEY, new Date(this.now()).toISOString());
    this.emitSnapshot();
  }

  /** @param {string} model */
  setModel(model) {
    if (this.models.includes(model)) this.model = model;
    this.emitSnapshot();
  }

  dispose() {
    this.stop();
    this.meterStream.stop();
    clearTimeout(this.deadlineTimer);
    this.listeners.clear();
  }

  // ------------------------------------------------------------------ internals

  /** @param {Meter} m */
  onMeter(m) {
    this.meter = m;
    if (this.refusal && meterLiftsRefusal(this.refusal, m, this.now())) this.refusal = undefined;
    // Wake up at the deadline so the view closes on time without a new frame.
    clearTimeout(this.deadlineTimer);
    const wait = m.deadlineAt - this.now();
    if (wait > 0 && m.endedAt === undefined)
      this.deadlineTimer = setTimeout(() => this.emitSnapshot(), Math.min(wait + 50, 2 ** 31 - 1));
    this.emitSnapshot();
  }

  /**
   * Keeps a refusal that closes the assistant (ended, deadline, spent budget, bad token).
   * @param {GatewayError} e
   * @param {boolean} [emit]
   */
  noteRefusal(e, emit = true) {
    if (!closingKind(e.code, e.retryable)) return;
    this.refusal = {
      code: e.code,
      message: e.message,
      ...(e.retryable !== undefined && { retryable: e.retryable }),
      ...(this.meter && { budget: this.meter.budget }),
    };
    if (emit) this.emitSnapshot();
  }

  /** Fills an empty conversation from the gateway's transcript (the host started fresh). */
  async restore() {
    if (this.messages.length > 0) return;
    const generation = ++this.restoreGeneration;
    this.restoring = true;
    this.emitSnapshot();
    try {
      const all = await this.deps.client.transcript();
      if (generation !== this.restoreGeneration || this.messages.length > 0) return;
      const cleared = this.deps.memento.get(CLEARED_KEY);
      this.messages = fromTranscript(
        typeof cleared === 'string' ? all.filter((m) => m.at > cleared) : all,
      );
    } catch (e) {
      if (generation !== this.restoreGeneration) return;
      const err = /** @type {GatewayError} */ (e);
      if (err?.name === 'GatewayError' && closingKind(err.code, err.retryable))
        this.noteRefusal(err, false);
      else this.notice = 'The earlier conversation could not be loaded; new questions still work.';
    } finally {
      if (generation === this.restoreGeneration) {
        this.restoring = false;
        this.emitSnapshot();
      }
    }
  }

  async loadModels() {
    try {
      this.models = await this.deps.client.models();
      if (!this.model || !this.models.includes(this.model)) this.model = this.models[0];
      this.emitSnapshot();
    } catch {
      // Without the list the gateway picks the interview's model; the meter reports refusals.
    }
  }

  emitSnapshot() {
    if (this.listeners.size > 0) this.emit({ push: 'snapshot', data: this.snapshot() });
  }

  /** @param {Push} p */
  emit(p) {
    for (const l of this.listeners) l(p);
  }
}

/**
 * The candidate's turns from the gateway's transcript (system prompts are ours, not shown).
 * @param {TranscriptMessage[]} all
 * @returns {Message[]}
 */
function fromTranscript(all) {
  /** @type {Message[]} */
  const out = [];
  for (const m of all) {
    if (m.role !== 'user' && m.role !== 'assistant') continue;
    const status =
      m.role === 'user' || m.status === 'complete' || m.status === undefined
        ? 'complete'
        : m.status === 'stopped'
          ? 'stopped'
          : 'error';
    out.push({
      id: randomUUID(),
      role: m.role,
      content: typeof m.content === 'string' ? m.content : '',
      status,
      ...(m.role === 'assistant' &&
        m.error && { error: describeError({ code: m.error, message: '' }) }),
      ...(m.role === 'assistant' &&
        m.tokensIn !== undefined && { tokens: { in: m.tokensIn, out: m.tokensOut ?? 0 } }),
    });
  }
  return out;
}

module.exports = { ChatSession, SendRefused };
