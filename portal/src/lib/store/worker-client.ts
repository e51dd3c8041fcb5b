import { Worker } from 'node:worker_threads';
import {
  BatchGetCommand,
  BatchWriteCommand,
  DeleteCommand,
  GetCommand,
  PutCommand,
  QueryCommand,
  ScanCommand,
  UpdateCommand,
  type DynamoDBDocumentClient,
} from '@aws-sdk/lib-dynamodb';
import { dynamoClientConfig, DOCUMENT_OPTIONS, type DynamoOptions } from './client';

/** Commands sent to the worker, by class (names survive no bundler here, but identities do). */
const COMMANDS = new Map<Function, { name: string; idempotent: boolean }>([
  [GetCommand, { name: 'GetCommand', idempotent: true }],
  [QueryCommand, { name: 'QueryCommand', idempotent: true }],
  [ScanCommand, { name: 'ScanCommand', idempotent: true }],
  [BatchGetCommand, { name: 'BatchGetCommand', idempotent: true }],
  // Puts of whole items are idempotent; conditional writes are not safe to send twice.
  [BatchWriteCommand, { name: 'BatchWriteCommand', idempotent: true }],
  [PutCommand, { name: 'PutCommand', idempotent: false }],
  [UpdateCommand, { name: 'UpdateCommand', idempotent: false }],
  [DeleteCommand, { name: 'DeleteCommand', idempotent: false }],
]);

interface Job {
  command: { input: unknown };
  idempotent: boolean;
  resolve(output: unknown): void;
  reject(e: Error): void;
}

/**
 * A DynamoDB document client whose calls run in a worker thread with its own SDK client:
 * `send()` posts the command's class name and input, the worker answers with the output or the
 * error's name and message (so `isConditionFailure` works unchanged). For the AI gateway,
 * whose event loop must stay free to relay answers: the SDK costs ~1 ms of CPU per call, and
 * the gateway's transcript batches and budget-slice writes otherwise delay the first tokens
 * of other answers. A call costs ~0.1 ms more latency for the thread hop.
 *
 * If the worker cannot start or dies, calls run in-process on `fallback`: later ones, and
 * pending ones that are safe to repeat (reads, batch puts); pending conditional writes fail
 * with `WorkerLost`, because the worker may already have applied them.
 */
export class WorkerDocumentClient {
  private worker?: Worker;
  private failed = false;
  private readonly jobs = new Map<number, Job>();
  private seq = 0;

  constructor(
    private readonly dynamo: DynamoOptions,
    private readonly fallback: DynamoDBDocumentClient,
    private readonly log?: { warn(o: object, m: string): void },
  ) {}

  /** The stores take a document client; they only ever call `send`. */
  asDocumentClient(): DynamoDBDocumentClient {
    return this as unknown as DynamoDBDocumentClient;
  }

  send(command: { input: unknown }): Promise<any> {
    const known = COMMANDS.get(command.constructor);
    const w = known && this.ensure();
    if (!known || !w) return this.fallback.send(command as never);
    return new Promise((resolve, reject) => {
      const id = ++this.seq;
      this.jobs.set(id, { command, idempotent: known.idempotent, resolve, reject });
      if (this.jobs.size === 1) w.ref();
      w.postMessage({ id, command: known.name, input: command.input });
    });
  }

  /** Stops the worker once its calls have answered (callers stop sending first). */
  async close(): Promise<void> {
    const w = this.worker;
    if (!w) return;
    const until = Date.now() + 10_000;
    while (this.jobs.size > 0 && Date.now() < until) await new Promise((r) => setTimeout(r, 10));
    this.failed = true; // anything later runs in-process
    this.worker = undefined;
    await w.terminate();
    this.abandon('the worker was stopped');
  }

  private ensure(): Worker | undefined {
    if (this.worker || this.failed) return this.worker;
    let w: Worker;
    try {
      w = new Worker(new URL('./document-worker.mjs', import.meta.url), {
        workerData: {
          clientConfig: dynamoClientConfig(this.dynamo),
          documentOptions: DOCUMENT_OPTIONS,
          commands: [...COMMANDS.values()].map((c) => c.name),
        },
      });
    } catch (e) {
      this.fail(`cannot start: ${String(e)}`);
      return undefined;
    }
    w.unref();
    w.on(
      'message',
      (m: { id: number; output?: unknown; error?: { name: string; message: string } }) => {
        const job = this.jobs.get(m.id);
        if (!job) return;
        this.jobs.delete(m.id);
        if (this.jobs.size === 0) w.unref();
        if (m.error) job.reject(Object.assign(new Error(m.error.message), { name: m.error.name }));
        else job.resolve(m.output);
      },
    );
    w.on('error', (e) => this.fail(String(e)));
    w.on('exit', (code) => {
      if (this.worker === w) this.fail(`exited with code ${code}`);
    });
    this.worker = w;
    return w;
  }

  private fail(why: string): void {
    if (this.failed) return;
    this.failed = true;
    this.worker = undefined;
    this.log?.warn({ why }, 'DynamoDB worker unavailable; calls run in-process');
    this.abandon(why);
  }

  /** Pending calls: repeat the safe ones in-process, fail the rest. */
  private abandon(why: string): void {
    const pending = [...this.jobs.values()];
    this.jobs.clear();
    for (const job of pending) {
      if (job.idempotent) this.fallback.send(job.command as never).then(job.resolve, job.reject);
      else
        job.reject(
          Object.assign(new Error(`DynamoDB worker lost during a write (${why})`), {
            name: 'WorkerLost',
          }),
        );
    }
  }
}
