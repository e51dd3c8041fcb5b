// @ts-check
'use strict';
const { readSse } = require('./sse-parser');
const { closingKind } = require('./availability');

/**
 * @typedef {import('./gateway-client').GatewayClient} GatewayClient
 * @typedef {import('./gateway-client').GatewayError} GatewayError
 * @typedef {import('./gateway-client').Meter} Meter
 */

/** The gateway sends a heartbeat comment every 15 s: this much silence means a dead connection. */
const IDLE_MS = 45_000;
const MIN_BACKOFF_MS = 1000;
const MAX_BACKOFF_MS = 30_000;

/**
 * Follows the gateway's live meter (`GET /events`, `event: usage` frames, the current meter
 * first) and keeps following: it reconnects after drops with Last-Event-ID and a capped backoff,
 * and stops for good on a refusal that closes the assistant (ended, deadline, bad token) — a new
 * interview file calls `restart()`. `start` should be called once; `stop` ends it.
 */
class MeterStream {
  /**
   * @param {{
   *   client: Pick<GatewayClient, 'events'>,
   *   onMeter: (meter: Meter) => void,
   *   onRefused: (error: GatewayError) => void,
   *   idleMs?: number,
   * }} deps
   */
  constructor(deps) {
    this.deps = deps;
    this.idleMs = deps.idleMs ?? IDLE_MS;
    /** @type {string | undefined} */
    this.lastEventId = undefined;
    /** @type {AbortController | undefined} */
    this.current = undefined;
    this.running = false;
    this.generation = 0;
    /** @type {(() => void) | undefined} */
    this.wake = undefined;
  }

  start() {
    if (this.running) return;
    this.running = true;
    void this.loop(++this.generation);
  }

  /** Forgets the resume point (another interview or token) and reconnects at once. */
  restart() {
    this.stop();
    this.lastEventId = undefined;
    this.start();
  }

  stop() {
    this.running = false;
    this.generation++;
    this.current?.abort();
    this.wake?.();
  }

  /** @param {number} generation */
  async loop(generation) {
    let backoff = MIN_BACKOFF_MS;
    while (this.running && generation === this.generation) {
      const ctl = new AbortController();
      this.current = ctl;
      let idle = setTimeout(() => ctl.abort(), this.idleMs);
      try {
        const res = await this.deps.client.events(this.lastEventId, ctl.signal);
        const bump = () => {
          clearTimeout(idle);
          idle = setTimeout(() => ctl.abort(), this.idleMs);
        };
        for await (const ev of readSse(
          /** @type {ReadableStream<Uint8Array>} */ (res.body),
          bump,
        )) {
          if (generation !== this.generation) return;
          if (ev.event === 'reset') {
            // Too far behind to resume: the next connection starts from the current meter.
            this.lastEventId = undefined;
            continue;
          }
          if (ev.event !== 'usage') continue;
          if (ev.id) this.lastEventId = ev.id;
          try {
            this.deps.onMeter(JSON.parse(ev.data));
            backoff = MIN_BACKOFF_MS;
          } catch {
            // a frame we cannot read is skipped; the next one carries the whole meter again
          }
        }
      } catch (e) {
        if (generation !== this.generation) return;
        const err = /** @type {GatewayError} */ (e);
        if (err && err.name === 'GatewayError' && closingKind(err.code, err.retryable)) {
          this.running = false;
          this.deps.onRefused(err);
          return;
        }
        if (err?.name === 'GatewayError' && err.retryAfterSeconds)
          backoff = Math.max(backoff, err.retryAfterSeconds * 1000);
      } finally {
        clearTimeout(idle);
      }
      if (generation !== this.generation) return;
      await new Promise((resolve) => {
        const timer = setTimeout(resolve, backoff);
        this.wake = () => {
          clearTimeout(timer);
          resolve(undefined);
        };
      });
      backoff = Math.min(backoff * 2, MAX_BACKOFF_MS);
    }
  }
}

module.exports = { MeterStream };
