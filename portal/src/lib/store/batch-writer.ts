import { Worker } from 'node:worker_threads';
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { putAll } from './batch-write.mjs';
import { dynamoClientConfig, DOCUMENT_OPTIONS, type DynamoOptions } from './client';

interface Job {
  table: string;
  items: Record<string, unknown>[];
  resolve(): void;
  reject(e: Error): void;
}

/**
 * Writes item batches from a worker thread with its own DynamoDB client, so the SDK's CPU
 * (~1 ms per call: marshalling every character, signing, parsing) is spent beside the event
 * loop rather than on it — the gateway's transcript writes otherwise delay the first tokens of
 * other answers. Same semantics as `putAll` in-process (idempotent puts, unprocessed items
 * retried). If the worker cannot start or dies, pending and later batches are written
 * in-process with `fallback`, so nothing is lost.
 */
export class WorkerBatchWriter {
  private worker?: Worker;
  private failed = false;
  private readonly jobs = new Map<number, Job>();
  private seq = 0;

  constructor(
    private readonly dynamo: DynamoOptions,
    private readonly fallback: DynamoDBDocumentClient,
    private readonly log?: { warn(o: object, m: string): void },
  ) {}

  put(table: string, items: Record<string, unknown>[]): Promise<void> {
    const w = this.ensure();
    if (!w) return putAll(this.fallback, table, items);
    return new Promise<void>((resolve, reject) => {
      const id = ++this.seq;
      this.jobs.set(id, { table, items, resolve, reject });
      if (this.jobs.size === 1) w.ref();
      w.postMessage({ id, table, items });
    });
  }

  /** Stops the worker once its batches are written (callers stop adding first). */
  async close(): Promise<void> {
    const w = this.worker;
    if (!w) return;
    while (this.jobs.size > 0) await new Promise((r) => setTimeout(r, 10));
    this.worker = undefined;
    this.failed = true; // later puts (none expected) go in-process
    await w.terminate();
  }

  private ensure(): Worker | undefined {
    if (this.worker || this.failed) return this.worker;
    let w: Worker;
    try {
      w = new Worker(new URL('./batch-write-worker.mjs', import.meta.url), {
        workerData: {
          clientConfig: dynamoClientConfig(this.dynamo),
          documentOptions: DOCUMENT_OPTIONS,
        },
      });
    } catch (e) {
      this.fail(`cannot start: ${String(e)}`);
      return undefined;
    }
    w.unref();
    w.on('message', (m: { id: number; error?: string }) => {
      const job = this.jobs.get(m.id);
      if (!job) return;
      this.jobs.delete(m.id);
      if (this.jobs.size === 0) w.unref();
      if (m.error) job.reject(new Error(m.error));
      else job.resolve();
    });
    w.on('error', (e) => this.fail(String(e)));
    w.on('exit', (code) => {
      if (this.worker === w) this.fail(`exited with code ${code}`);
    });
    this.worker = w;
    return w;
  }

  /** The worker is gone: write what it held, and everything after, in-process. */
  private fail(why: string): void {
    if (this.failed) return;
    this.failed = true;
    this.worker = undefined;
    this.log?.warn({ why }, 'batch write worker unavailable; writing in-process');
    const pending = [...this.jobs.values()];
    this.jobs.clear();
    for (const job of pending)
      putAll(this.fallback, job.table, job.items).then(job.resolve, job.reject);
  }
}
