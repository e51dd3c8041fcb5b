import type { ServerResponse } from 'node:http';
import { APIUserAbortError } from 'openai';
import { messageKey, type MessageItem, type MessageStatus } from '../store/messages';
import { CompletionAccumulator } from './completion';
import type { TokenCounter } from './counting';
import { GatewayError, gwErrors } from './errors';
import type { ChatRequest } from './request';
import { sendError, sendJson } from './reply';
import type { Reservation, SlicePool } from './slices';
import { SseRelay } from './sse-relay';
import { promptItems, truncateUtf8, type Transcript } from './transcript';
import { readUpstream, type UpstreamPipe } from './upstream-reader';
import { upstreamBody, type Upstream, type UpstreamResponse } from './upstream';

/** Why this process stopped an exchange. */
export type StopReason = 'client' | 'deadline' | 'ended' | 'idle' | 'shutdown';

export interface ExchangeDeps {
  upstream: Upstream;
  pool: SlicePool;
  counter: TokenCounter;
  transcript: Transcript;
  now: () => number;
  idleMs: number;
  reasoningModels: RegExp;
  log: { warn(o: object, m: string): void; error(o: object, m: string): void };
  /** Called once, after the charge is settled and the transcript written. */
  onDone: (ex: Exchange) => void;
}

export interface ExchangeInit {
  interviewId: string;
  requestId: string;
  req: ChatRequest;
  model: string;
  reservation: Reservation;
  stream: boolean;
  /** The client asked for the usage chunk (it is always requested upstream). */
  includeUsage: boolean;
  deadlineAt: number;
  startedAt: number;
}

const SSE_HEADERS = {
  'content-type': 'text/event-stream; charset=utf-8',
  'cache-control': 'no-cache, no-transform',
  'x-accel-buffering': 'no',
};
/** Longest SSE event accepted from the provider (characters). */
const MAX_SSE_EVENT = 4 * 1024 * 1024;
const MAX_TIMER_MS = 2 ** 31 - 1;

/** Where a running pipe sends what the client gets. */
interface PipeSink {
  frame(bytes: Uint8Array | string): void;
  end(last?: string): void;
}

/**
 * One chat completion in flight: calls the provider, relays its events to the node:http
 * response as they arrive (or collects them for a non-streamed answer), and settles exactly
 * once — the charge (provider usage, or an honest estimate flagged as such), then the
 * transcript, durable before the response ends (I3, I5).
 *
 * Stops: client disconnect (the gateway calls `abort('client')` when the response closes
 * early), the deadline (a timer; the stream is cut with a typed error event), AI access ended
 * or revoked, an upstream silent for `idleMs`, shutdown. Every stop aborts the upstream
 * request, which stops generation.
 */
export class Exchange {
  readonly interviewId: string;
  readonly requestId: string;
  private readonly acc = new CompletionAccumulator();
  private readonly controller = new AbortController();
  private reason?: StopReason;
  /** none → waiting (request sent) → streaming (200 received) | refused (provider error, nothing generated). */
  private phase: 'none' | 'waiting' | 'streaming' | 'refused' = 'none';
  private deadlineTimer?: NodeJS.Timeout;
  private firstByteAt?: number;
  private finalizing?: Promise<void>;
  private outcome: { status: MessageStatus; error?: GatewayError } = { status: 'complete' };
  /** Set while streaming: cuts the pipe at once when the exchange is stopped. */
  private onAbort?: () => void;

  constructor(
    private readonly deps: ExchangeDeps,
    private readonly init: ExchangeInit,
  ) {
    this.interviewId = init.interviewId;
    this.requestId = init.requestId;
  }

  /** Stops the exchange (idempotent); the upstream call is aborted and the answer cut. */
  abort(reason: StopReason): void {
    if (this.reason || this.finalizing) return;
    this.reason = reason;
    this.controller.abort();
    this.onAbort?.();
  }

  /** Moves the cut-off (deadline extended or shortened while streaming). */
  setDeadline(deadlineAt: number): void {
    if (this.deadlineTimer) clearTimeout(this.deadlineTimer);
    const wait = deadlineAt - this.deps.now();
    if (wait <= 0) return this.abort('deadline');
    if (wait > MAX_TIMER_MS) return;
    this.deadlineTimer = setTimeout(() => this.abort('deadline'), wait);
    this.deadlineTimer.unref();
  }

  /** Serves the answer on `res`; resolves once the response has ended (after the exchange settled). */
  async run(res: ServerResponse): Promise<void> {
    this.setDeadline(this.init.deadlineAt);
    let upstream: UpstreamResponse;
    try {
      if (this.reason) throw new APIUserAbortError(); // stopped before anything was sent: nothing to charge
      this.phase = 'waiting';
      const { req, model, reservation } = this.init;
      upstream = await this.deps.upstream.open(
        upstreamBody(req, model, reservation.maxCompletion),
        this.controller.signal,
      );
    } catch (e) {
      if (this.reason) {
        // Stopped before the provider answered (the client left, the deadline, …).
        const err = this.stopError();
        await this.finalize('stopped', err);
        return sendError(res, err ?? gwErrors.upstreamUnreachable());
      }
      const err = e instanceof GatewayError ? e : gwErrors.upstreamUnreachable();
      this.phase = 'refused';
      await this.finalize('error', err);
      return sendError(res, err);
    }
    this.phase = 'streaming';
    if (this.reason) {
      // Stopped while the headers were on their way (the abort already cut the provider's socket).
      await this.finalize('stopped', this.stopError());
      return sendError(res, this.stopError() ?? gwErrors.upstreamUnreachable());
    }
    return this.init.stream ? this.sse(upstream, res) : this.collect(upstream, res);
  }

  private sse(upstream: UpstreamResponse, res: ServerResponse): Promise<void> {
    res.writeHead(200, { ...SSE_HEADERS, 'x-request-id': this.requestId });
    return new Promise<void>((resolve) => {
      let draining = false;
      const pipe = this.pipe(upstream, {
        frame: (bytes) => {
          if (res.destroyed) return;
          // A slow client slows the provider down, not our memory.
          if (!res.write(bytes) && !draining) {
            draining = true;
            pipe.pause();
            res.once('drain', () => {
              draining = false;
              pipe.resume();
            });
          }
        },
        end: (last) => {
          if (!res.destroyed) res.end(last);
          resolve();
        },
      });
    });
  }

  private collect(upstream: UpstreamResponse, res: ServerResponse): Promise<void> {
    return new Promise<void>((resolve) => {
      this.pipe(upstream, {
        frame: () => {
          // Frames are for streaming clients; the accumulator keeps the answer.
        },
        end: () => {
          if (this.outcome.error) sendError(res, this.outcome.error);
          else {
            const completion = this.acc.toCompletion(
              {
                id: `chatcmpl-${this.requestId}`,
                model: this.init.model,
                created: Math.floor(this.init.startedAt / 1000),
              },
              this.acc.usage ?? undefined,
            );
            sendJson(res, 200, completion, { 'x-request-id': this.requestId });
          }
          resolve();
        },
      });
    });
  }

  /**
   * Reads the provider's SSE stream as it arrives (event-driven: no promise per chunk on the
   * node transport). Every event is parsed once (accumulator: transcript text, usage, the
   * non-streamed answer) and the relay forwards the provider's own bytes to `sink`, one write
   * per upstream read. Ends with `[DONE]`, or with one typed error event when the answer was
   * cut — after the exchange has settled, so the charge and the transcript are durable before
   * the response ends.
   */
  private pipe(upstream: UpstreamResponse, sink: PipeSink): UpstreamPipe {
    let sawDone = false;
    let bad: GatewayError | undefined;
    let ended = false;
    const relay = new SseRelay(
      {
        event: (data) => {
          if (data === '[DONE]') {
            sawDone = true;
            return 'hide'; // ours goes out once the exchange has settled
          }
          let obj: unknown;
          try {
            obj = JSON.parse(data);
          } catch {
            bad = gwErrors.upstreamMalformed();
            return 'stop';
          }
          if (
            typeof obj === 'object' &&
            obj !== null &&
            'error' in obj &&
            (obj as { error: unknown }).error
          ) {
            bad = gwErrors.upstreamError(200);
            return 'stop';
          }
          if (!this.acc.add(obj)) {
            bad = gwErrors.upstreamMalformed();
            return 'stop';
          }
          const o = obj as { usage?: unknown; choices?: unknown[] };
          // The usage chunk is always requested; clients that did not ask for it never see it.
          if (
            !this.init.includeUsage &&
            o.usage &&
            Array.isArray(o.choices) &&
            o.choices.length === 0
          )
            return 'hide';
          return 'forward';
        },
        overflow: () => {
          bad ??= gwErrors.upstreamMalformed();
        },
      },
      MAX_SSE_EVENT,
    );

    const finish = (failed: boolean) => {
      if (ended) return;
      ended = true;
      source.stop();
      let status: MessageStatus = 'complete';
      let error: GatewayError | undefined;
      if (bad) {
        status = 'error';
        error = bad;
      } else if (this.reason) {
        // Our own stop (client, deadline, end of access, idle provider, shutdown).
        status = this.reason === 'idle' ? 'error' : 'stopped';
        error = this.stopError();
      } else if (failed || (!sawDone && !this.acc.usage)) {
        // The provider's connection dropped, or the stream ended without its end.
        status = 'error';
        error = gwErrors.upstreamTruncated();
      }
      if (status !== 'complete') this.controller.abort();
      this.outcome = { status, ...(error && { error }) };
      void this.finalize(status, error).then(() => {
        if (this.reason === 'client') sink.end();
        else sink.end(error ? `data: ${JSON.stringify(error.toBody())}\n\n` : 'data: [DONE]\n\n');
      });
    };

    const source: UpstreamPipe = readUpstream(upstream, this.deps.idleMs, {
      data: (chunk) => {
        if (ended) return;
        const out = relay.feed(chunk);
        if (out.length > 0) {
          this.firstByteAt ??= this.deps.now();
          sink.frame(out);
        }
        if (bad) finish(false);
      },
      end: () => finish(false),
      error: () => finish(true),
      idle: () => this.abort('idle'),
    });
    this.onAbort = () => finish(true);
    return source;
  }

  private stopError(): GatewayError | undefined {
    switch (this.reason) {
      case 'deadline':
        return gwErrors.deadlineReached();
      case 'ended':
        return gwErrors.accessEndedMidStream();
      case 'idle':
        return gwErrors.upstreamTimeout();
      case 'shutdown':
        return gwErrors.shuttingDown();
      default:
        return undefined;
    }
  }

  /** Charges, then stores the transcript; once. Resolves when both are done. */
  finalize(status: MessageStatus, error: GatewayError | undefined): Promise<void> {
    this.finalizing ??= this.settle(status, error).finally(() => this.deps.onDone(this));
    return this.finalizing;
  }

  /** Resolves when the exchange has settled (for shutdown). */
  settled(): Promise<void> {
    return this.finalizing ?? Promise.resolve();
  }

  private async settle(status: MessageStatus, error: GatewayError | undefined): Promise<void> {
    if (this.deadlineTimer) clearTimeout(this.deadlineTimer);
    const { req, model, reservation: res, interviewId, requestId, startedAt } = this.init;
    const { counter, pool, log } = this.deps;
    let tokensIn = 0;
    let tokensOut = 0;
    let estimated = false;
    const usage = this.acc.usage;
    if (usage) {
      tokensIn = usage.prompt_tokens;
      tokensOut = usage.completion_tokens;
    } else if (this.phase === 'waiting' || this.phase === 'streaming') {
      // (phase 'none': stopped before the call was sent; 'refused': the provider answered with an error.)
      // Usage is missing (cut, dropped, or never sent): an honest estimate, flagged. The
      // provider read the prompt; output is what we saw, or — for reasoning models, whose hidden
      // tokens streamed text cannot show — all that was allowed.
      estimated = true;
      const exact = res.promptExact ?? (await counter.countPrompt(req, model));
      tokensIn = Math.min(exact, res.promptReserve);
      if (this.phase === 'streaming') {
        tokensOut = this.deps.reasoningModels.test(model)
          ? res.maxCompletion
          : Math.min(await counter.countText(this.acc.visibleText(), model), res.maxCompletion);
      }
    }
    const charged = pool.settle(res, { tokensIn, tokensOut, estimated });
    if (charged.capped) {
      log.warn(
        { interviewId, requestId, tokensIn, tokensOut, reserved: res.amount },
        'gateway: provider usage exceeded the reservation; charged the reservation',
      );
    }
    const now = this.deps.now();
    const text = this.acc.text() || this.acc.refusalText();
    const calls = this.acc.calls();
    const callsJson = calls.length > 0 ? truncateUtf8(JSON.stringify(calls), 64_000) : undefined;
    const response: MessageItem = {
      interviewId,
      sk: messageKey(startedAt, requestId, 'r'),
      requestId,
      at: startedAt,
      role: 'assistant',
      content: text,
      ...(callsJson && { toolCalls: callsJson.text }),
      ...(callsJson?.truncated && { contentTruncated: true }),
      model: this.acc.model ?? model,
      tokensIn: charged.chargedIn,
      tokensOut: charged.chargedOut,
      estimated,
      status,
      ...(this.acc.finishReason && { finishReason: this.acc.finishReason }),
      ...(error && { errorCode: error.code }),
      ...(this.reason === 'client' && { errorCode: 'client_disconnected' }),
      latencyMs: now - startedAt,
      ...(this.firstByteAt !== undefined && { ttftMs: this.firstByteAt - startedAt }),
      sliceId: res.slice.sliceId,
      reserved: res.amount,
      ...(charged.capped && { reportedIn: tokensIn, reportedOut: tokensOut }),
    };
    try {
      await this.deps.transcript.record([
        ...promptItems(interviewId, requestId, startedAt, req.messages),
        response,
      ]);
    } catch (e) {
      log.error(
        { interviewId, requestId, err: (e as Error).message },
        'gateway: transcript write failed',
      );
    }
  }
}
