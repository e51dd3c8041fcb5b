import { Worker } from 'node:worker_threads';
import { promptSize } from './count-core.mjs';
import type { ChatRequest } from './request';

/** The parts of a chat request that cost prompt tokens. */
export type PromptParts = Pick<ChatRequest, 'messages' | 'tools' | 'response_format'>;

const utf8Bytes = (t: string) => Buffer.byteLength(t, 'utf8');

/** Slack added to an exact prompt count when reserving: provider chat templates differ by a few tokens. */
export function promptReserveFromExact(exact: number): number {
  return exact + 8 + Math.ceil(exact / 100);
}

/**
 * Token counting that never stalls the event loop (design: "the gateway's hot path").
 *
 * - `bound()` runs on the event loop: UTF-8 bytes are an upper bound on byte-level BPE tokens,
 *   computed in microseconds even for megabytes. Reservations use it whenever it fits.
 * - `countPrompt()` / `countText()` are exact (tiktoken, special-token text counted as text) and
 *   run only in worker threads: tiktoken is super-linear on long runs of one character, and even
 *   linear text costs ~0.2 s per MB. Without a worker (it failed to start or crashed repeatedly),
 *   they fall back to the byte bound: never an undercount, so budgets stay safe.
 */
export class TokenCounter {
  private workers: CountWorker[] = [];
  private next = 0;
  private closed = false;

  constructor(
    private readonly opts: {
      workers: number;
      timeoutMs?: number;
      log?: { warn(o: object, m: string): void };
    },
  ) {
    for (let i = 0; i < Math.max(1, opts.workers); i++)
      this.workers.push(new CountWorker(opts.timeoutMs ?? 30_000, opts.log));
  }

  /** Upper bound on the prompt's tokens; O(bytes) native work, no tokenizer. */
  bound(req: PromptParts): number {
    return promptSize(req, utf8Bytes);
  }

  /** Exact prompt tokens (as the provider counts plain-text chats for cl100k/o200k models). */
  countPrompt(req: PromptParts, model: string | undefined): Promise<number> {
    const request = {
      messages: req.messages,
      tools: req.tools,
      response_format: req.response_format,
    };
    return this.pick()
      .run({ op: 'prompt', model, request })
      .catch(() => this.bound(req));
  }

  /** Exact tokens of generated text (an estimate of output when the provider's usage is missing). */
  countText(text: string, model: string | undefined): Promise<number> {
    if (text.length === 0) return Promise.resolve(0);
    return this.pick()
      .run({ op: 'text', model, text })
      .catch(() => utf8Bytes(text));
  }

  /** Resolves once the workers have loaded the tokenizer (tests and warm-up). */
  ready(): Promise<void> {
    return Promise.all(this.workers.map((w) => w.ready)).then(() => undefined);
  }

  async close(): Promise<void> {
    this.closed = true;
    await Promise.all(this.workers.map((w) => w.close()));
  }

  private pick(): CountWorker {
    if (this.closed) throw new Error('TokenCounter closed');
    // Least loaded first, round-robin among equals.
    let best = this.workers[this.next++ % this.workers.length]!;
    for (const w of this.workers) if (w.pending < best.pending) best = w;
    return best;
  }
}

type Job =
  { op: 'prompt'; model?: string; request: unknown } | { op: 'text'; model?: string; text: string };

/** One worker thread with its job queue; restarts after a crash (at most a few times). */
class CountWorker {
  private worker?: Worker;
  private jobs = new Map<
    number,
    { resolve(n: number): void; reject(e: Error): void; timer: NodeJS.Timeout }
  >();
  private seq = 0;
  private restarts = 0;
  private stopping = false;
  ready: Promise<void> = Promise.resolve();

  constructor(
    private readonly timeoutMs: number,
    private readonly log?: { warn(o: object, m: string): void },
  ) {
    this.start();
  }

  get pending(): number {
    return this.jobs.size;
  }

  run(job: Job): Promise<number> {
    const w = this.worker;
    if (!w) return Promise.reject(new Error('count worker unavailable'));
    const id = ++this.seq;
    return new Promise<number>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.jobs.delete(id);
        reject(new Error('count timed out'));
      }, this.timeoutMs);
      timer.unref();
      this.jobs.set(id, { resolve, reject, timer });
      w.postMessage({ id, ...job });
    });
  }

  async close(): Promise<void> {
    this.stopping = true;
    this.failAll(new Error('TokenCounter closed'));
    await this.worker?.terminate();
  }

  private start(): void {
    let w: Worker;
    try {
      w = new Worker(new URL('./count-worker.mjs', import.meta.url));
    } catch (e) {
      this.log?.warn({ err: String(e) }, 'token count worker unavailable; using byte bounds');
      return;
    }
    w.unref();
    this.worker = w;
    this.ready = new Promise<void>((resolve) => {
      const onReady = (m: { ready?: boolean }) => {
        if (m?.ready) {
          w.off('message', onReady);
          resolve();
        }
      };
      w.on('message', onReady);
      w.once('exit', () => resolve());
    });
    w.on('message', (m: { id?: number; tokens?: number; error?: string }) => {
      if (m.id === undefined) return;
      const job = this.jobs.get(m.id);
      if (!job) return;
      this.jobs.delete(m.id);
      clearTimeout(job.timer);
      if (typeof m.tokens === 'number') job.resolve(m.tokens);
      else job.reject(new Error(m.error ?? 'count failed'));
    });
    w.on('error', (e) => this.log?.warn({ err: e.message }, 'token count worker error'));
    w.on('exit', () => {
      if (this.worker === w) this.worker = undefined;
      this.failAll(new Error('count worker exited'));
      if (!this.stopping && this.restarts++ < 3) this.start();
    });
  }

  private failAll(e: Error): void {
    for (const [id, job] of this.jobs) {
      clearTimeout(job.timer);
      job.reject(e);
      this.jobs.delete(id);
    }
  }
}
