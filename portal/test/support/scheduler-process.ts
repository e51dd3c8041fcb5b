/**
 * A scheduler in its own OS process, for the multi-process tests:
 *   node --import tsx test/support/scheduler-process.ts '<json SchedulerProcessArgs>'
 * It prints one line `{"ready":true,...}` on stdout once started, stops gracefully on SIGTERM,
 * and exits when its stdin closes (the test runner died).
 */
import { parseConfig } from '@/lib/config/env';
import { MemoryInterviewHooks } from '@/lib/operations/interview-hooks';
import type { OpsLogger } from '@/lib/operations/runner';
import { startSchedulerProcess } from '@/lib/scheduler/process';
import { createDocumentClient } from '@/lib/store/client';
import { FakeDriver } from './fake-driver';

export interface SchedulerProcessArgs {
  endpoint: string;
  prefix: string;
  owner: string;
  recordFile: string;
  createMs?: number;
  destroyMs?: number;
  /** Extra environment for parseConfig (LEASE_MS, SCHEDULER_POLL_MS, ...). */
  env?: Record<string, string>;
  /** Print the scheduler's health to stderr this often (debugging a stuck test). */
  healthEveryMs?: number;
}

const args = JSON.parse(process.argv[2] ?? '{}') as SchedulerProcessArgs;
const config = parseConfig({
  ...args.env,
  DYNAMODB_ENDPOINT: args.endpoint,
  TABLE_PREFIX: args.prefix,
  APP_ENV: 'test',
  DRIVER: 'fake',
});
const stderrLogger: OpsLogger = {
  debug() {},
  info() {},
  warn: (obj, msg) => process.stderr.write(`[${args.owner}] warn ${msg ?? ''} ${safe(obj)}\n`),
  error: (obj, msg) => process.stderr.write(`[${args.owner}] error ${msg ?? ''} ${safe(obj)}\n`),
};
function safe(obj: object): string {
  try {
    const o = obj as { err?: unknown };
    return o.err instanceof Error ? (o.err.stack ?? o.err.message) : JSON.stringify(obj);
  } catch {
    return '';
  }
}

// Say why before dying: the test reports a dead scheduler, this line says what killed it.
process.on('unhandledRejection', (err) => {
  process.stderr.write(`[${args.owner}] unhandled rejection: ${safe({ err })}\n`);
  process.exit(70);
});

const db = createDocumentClient({ endpoint: args.endpoint, region: config.AWS_REGION });
const driver = new FakeDriver({
  recordFile: args.recordFile,
  ...(args.createMs !== undefined && { createMs: args.createMs }),
  ...(args.destroyMs !== undefined && { destroyMs: args.destroyMs }),
});
const { scheduler, stop } = await startSchedulerProcess({
  config,
  db,
  driver,
  hooks: new MemoryInterviewHooks({ anyInterview: true }),
  logger: stderrLogger,
  owner: args.owner,
});
process.stdout.write(
  JSON.stringify({ ready: true, owner: scheduler.owner, pid: process.pid }) + '\n',
);
if (args.healthEveryMs) {
  setInterval(
    () => process.stderr.write(`[${args.owner}] ${JSON.stringify(scheduler.health())}\n`),
    args.healthEveryMs,
  ).unref();
}
process.stdin.on(
  'end',
  () =>
    void stop().then(
      () => process.exit(0),
      () => process.exit(1),
    ),
);
process.stdin.resume();
