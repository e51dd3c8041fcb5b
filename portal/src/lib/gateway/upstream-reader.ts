import type { IncomingMessage } from 'node:http';

/** A running read of the provider's response body. */
export interface UpstreamPipe {
  /** Stop reading (backpressure); the idle timer is off while paused. */
  pause(): void;
  resume(): void;
  /** No more callbacks. */
  stop(): void;
}

export interface UpstreamHandlers {
  data(chunk: Uint8Array): void;
  /** The body ended normally. */
  end(): void;
  /** The connection failed or was cut before the body ended. */
  error(): void;
  /** Nothing arrived for `idleMs` while reading. */
  idle(): void;
}

/**
 * Reads a provider response body with callbacks: a node:http response directly (no promise per
 * chunk on the hot path), a fetch Response through its web stream.
 */
export function readUpstream(
  response: IncomingMessage | Response,
  idleMs: number,
  h: UpstreamHandlers,
): UpstreamPipe {
  return response instanceof Response
    ? fromWeb(response, idleMs, h)
    : fromNode(response, idleMs, h);
}

function idleTimer(idleMs: number, onIdle: () => void) {
  let t: NodeJS.Timeout | undefined;
  return {
    arm() {
      if (t) t.refresh();
      else {
        t = setTimeout(onIdle, idleMs);
        t.unref();
      }
    },
    disarm() {
      if (t) clearTimeout(t);
      t = undefined;
    },
  };
}

function fromNode(res: IncomingMessage, idleMs: number, h: UpstreamHandlers): UpstreamPipe {
  let done = false;
  let paused = false;
  const timer = idleTimer(idleMs, () => !done && h.idle());
  const finish = (fn: () => void) => {
    if (done) return;
    done = true;
    timer.disarm();
    fn();
  };
  res.on('data', (chunk: Buffer) => {
    if (done) return;
    if (!paused) timer.arm();
    h.data(chunk);
  });
  res.on('end', () => finish(h.end));
  res.on('error', () => finish(h.error));
  res.on('close', () => finish(res.complete ? h.end : h.error));
  timer.arm();
  res.resume();
  return {
    pause() {
      paused = true;
      timer.disarm();
      res.pause();
    },
    resume() {
      if (done || !paused) return;
      paused = false;
      timer.arm();
      res.resume();
    },
    stop() {
      done = true;
      timer.disarm();
    },
  };
}

function fromWeb(response: Response, idleMs: number, h: UpstreamHandlers): UpstreamPipe {
  let done = false;
  let paused = false;
  let wake: (() => void) | undefined;
  const timer = idleTimer(idleMs, () => !done && h.idle());
  const reader = response.body?.getReader();
  void (async () => {
    if (!reader) return h.end();
    try {
      for (;;) {
        while (paused && !done) await new Promise<void>((r) => (wake = r));
        if (done) return;
        timer.arm();
        const r = await reader.read();
        timer.disarm();
        if (done) return;
        if (r.done) break;
        h.data(r.value);
      }
      if (!done) {
        done = true;
        h.end();
      }
    } catch {
      if (!done) {
        done = true;
        timer.disarm();
        h.error();
      }
    }
  })();
  return {
    pause() {
      paused = true;
    },
    resume() {
      paused = false;
      wake?.();
      wake = undefined;
    },
    stop() {
      done = true;
      timer.disarm();
      wake?.();
      reader?.cancel().catch(() => {});
    },
  };
}
