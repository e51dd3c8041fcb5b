/**
 * One Server-Sent Events connection as a bounded byte stream: frames in, a ReadableStream out
 * (the Response body), heartbeats, and one cleanup path for every way a connection ends
 * (client disconnect via `request.signal`, the stream's `cancel()`, `close()`, a slow client).
 */

const encoder = new TextEncoder();

export const SSE_HEADERS: Record<string, string> = {
  'Content-Type': 'text/event-stream; charset=utf-8',
  // Proxies must neither cache, compress (no-transform) nor buffer (X-Accel-Buffering) events.
  'Cache-Control': 'no-cache, no-transform',
  'X-Accel-Buffering': 'no',
};

/** One SSE message. `data` is JSON-encoded on one line (JSON.stringify never emits newlines). */
export function sseFrame(id: string | undefined, event: string, data: unknown): Uint8Array {
  const idLine = id === undefined ? '' : `id: ${id}\n`;
  return encoder.encode(`${idLine}event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
}

export interface SseChannelOptions {
  /** Aborts when the client goes away (Next's `request.signal`). */
  signal?: AbortSignal;
  /** A comment line every this many ms keeps proxies and the browser from timing out. */
  heartbeatMs: number;
  /**
   * Bytes allowed to wait for a slow client. Past this the connection is dropped (the client
   * reconnects with Last-Event-ID and resumes from the store) instead of buffering forever.
   */
  maxQueuedBytes: number;
  /** Reconnect delay the browser should use, in ms. */
  retryMs?: number;
  /** Called on each heartbeat (e.g. to prune per-connection state). */
  onHeartbeat?: () => void;
}

/** Queue size at which `writable()` waits: history is read no faster than the client takes it. */
const HIGH_WATER_BYTES = 64 * 1024;

export class SseChannel {
  readonly stream: ReadableStream<Uint8Array>;
  private controller!: ReadableStreamDefaultController<Uint8Array>;
  private done = false;
  private readonly cleanups: (() => void)[] = [];
  private waiters: (() => void)[] = [];
  private readonly heartbeat: NodeJS.Timeout;
  private readonly opts: SseChannelOptions;
  private readonly onAbort = () => this.close();

  constructor(opts: SseChannelOptions) {
    this.opts = opts;
    this.stream = new ReadableStream<Uint8Array>(
      {
        start: (controller) => {
          this.controller = controller;
        },
        pull: () => this.wake(),
        cancel: () => this.finish(),
      },
      { highWaterMark: HIGH_WATER_BYTES, size: (chunk) => chunk.byteLength },
    );
    this.heartbeat = setInterval(() => {
      if (this.sendText(': heartbeat\n\n')) opts.onHeartbeat?.();
    }, opts.heartbeatMs);
    this.heartbeat.unref();
    // The first bytes: make the browser's reconnect delay ours, and get headers flushed.
    this.sendText(`: connected\nretry: ${opts.retryMs ?? 2000}\n\n`);
    if (opts.signal?.aborted) this.close();
    else opts.signal?.addEventListener('abort', this.onAbort, { once: true });
  }

  get closed(): boolean {
    return this.done;
  }

  /** Runs `fn` once when the connection ends, however it ends. */
  onClose(fn: () => void): void {
    if (this.done) fn();
    else this.cleanups.push(fn);
  }

  /** Queues a frame; false when the connection is gone (or was just dropped as too slow). */
  send(frame: Uint8Array): boolean {
    if (this.done) return false;
    this.controller.enqueue(frame);
    const queued = HIGH_WATER_BYTES - (this.controller.desiredSize ?? 0);
    if (queued > this.opts.maxQueuedBytes) {
      this.fail(new Error(`SSE client too slow: ${queued} bytes queued`));
      return false;
    }
    return true;
  }

  sendText(text: string): boolean {
    return this.send(encoder.encode(text));
  }

  /** Resolves when the client has taken most of what is queued (or the connection ended). */
  writable(): Promise<void> {
    if (this.done || (this.controller.desiredSize ?? 0) > 0) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  /** Ends the stream after what is queued has been sent. */
  close(): void {
    if (this.done) return;
    this.finish();
    try {
      this.controller.close();
    } catch {
      // already closed or errored
    }
  }

  /** Drops the connection at once, discarding what is queued. */
  fail(reason: Error): void {
    if (this.done) return;
    this.finish();
    try {
      this.controller.error(reason);
    } catch {
      // already closed or errored
    }
  }

  private wake(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w();
  }

  private finish(): void {
    if (this.done) return;
    this.done = true;
    clearInterval(this.heartbeat);
    this.opts.signal?.removeEventListener('abort', this.onAbort);
    this.wake();
    for (const fn of this.cleanups.splice(0)) {
      try {
        fn();
      } catch {
        // cleanup must run to the end
      }
    }
  }
}
