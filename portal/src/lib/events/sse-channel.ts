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
  // Frames sent in one turn of the event loop go out as one chunk: a hub poll that delivers
  // ten events to 1,000 connections then costs 1,000 stream writes, not 10,000.
  private batch: Uint8Array[] = [];
  private batchBytes = 0;
  private flushQueued = false;

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
    this.batch.push(frame);
    this.batchBytes += frame.byteLength;
    if (!this.flushQueued) {
      this.flushQueued = true;
      queueMicrotask(this.flush);
    }
    if (this.queuedBytes() > this.opts.maxQueuedBytes) {
      this.fail(new Error(`SSE client too slow: ${this.queuedBytes()} bytes queued`));
      return false;
    }
    return true;
  }

  sendText(text: string): boolean {
    return this.send(encoder.encode(text));
  }

  /** Resolves when the client has taken most of what is queued (or the connection ended). */
  writable(): Promise<void> {
    if (this.done || this.queuedBytes() < HIGH_WATER_BYTES) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  /** Ends the stream after what is queued has been sent. */
  close(): void {
    if (this.done) return;
    this.flush();
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

  /** Bytes waiting: in the stream's queue and in the current batch. */
  private queuedBytes(): number {
    return HIGH_WATER_BYTES - (this.controller.desiredSize ?? 0) + this.batchBytes;
  }

  private readonly flush = (): void => {
    this.flushQueued = false;
    const batch = this.batch;
    const bytes = this.batchBytes;
    this.batch = [];
    this.batchBytes = 0;
    if (this.done || batch.length === 0) return;
    if (batch.length === 1) return this.controller.enqueue(batch[0]!);
    const chunk = new Uint8Array(bytes);
    let at = 0;
    for (const f of batch) {
      chunk.set(f, at);
      at += f.byteLength;
    }
    this.controller.enqueue(chunk);
  };

  private wake(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w();
  }

  private finish(): void {
    if (this.done) return;
    this.done = true;
    this.batch = [];
    this.batchBytes = 0;
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
