import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { randomUUID } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { EventPublisher, GlobalEventInput } from '@/lib/events/publisher';
import { defaultCatalog, type Catalog } from '@/lib/operations/catalog';
import { systemClock } from '@/lib/operations/clock';
import type { OperationsConfig } from '@/lib/operations/config';
import { OperationsEngine } from '@/lib/operations/engine';
import { MemoryInterviewHooks } from '@/lib/operations/interview-hooks';
import { OperationRunner, type OpsLogger } from '@/lib/operations/runner';
import type { OperationRecord } from '@/lib/store/types';
import { startTestDb, type TestDb } from '../support/dynalite';
import { FakeDriver, readFakeRecord, type FakeDriverOptions } from '../support/fake-driver';

// Heartbeat every 500 ms; long enough that a loaded CI machine never loses a healthy lease.
const config: OperationsConfig = {
  LEASE_MS: 1500,
  SCHEDULER_POLL_MS: 100,
  SCHEDULER_CONCURRENCY: 8,
  PROVISION_LEAD_SECONDS: 0,
  DESTROY_GRACE_SECONDS: 60,
  OPERATION_MAX_ATTEMPTS: 2,
};
const catalog: Catalog = {
  create: { ...defaultCatalog.create, backoffMs: () => 50 },
  destroy: { ...defaultCatalog.destroy, backoffMs: () => 50 },
};
const quiet: OpsLogger = { debug() {}, info() {}, warn() {}, error() {} };

let t: TestDb;
let engine: OperationsEngine;
let hooks: MemoryInterviewHooks;
let recordFile: string;
let globals: GlobalEventInput[];
const publisher: EventPublisher = {
  operationEvents() {},
  async global(e) {
    globals.push(e);
  },
};

beforeAll(async () => {
  t = await startTestDb();
  engine = new OperationsEngine({ db: t.db, tables: t.tables, publisher, config, catalog });
});
afterAll(() => t.stop());
beforeEach(() => {
  hooks = new MemoryInterviewHooks();
  globals = [];
  recordFile = path.join(mkdtempSync(path.join(tmpdir(), 'runner-')), 'fake.jsonl');
});

function runnerFor(op: OperationRecord, driverOpts: Partial<FakeDriverOptions> = {}, owner = 'me') {
  const driver = new FakeDriver({ recordFile, ...driverOpts });
  return new OperationRunner(
    {
      ops: engine.ops,
      logs: engine.logStore,
      publisher,
      driver,
      hooks,
      control: engine,
      catalog,
      config,
      clock: systemClock,
      logger: quiet,
      owner,
    },
    op,
  );
}

async function claimedCreate(
  interviewId = `iv_${randomUUID()}`,
  owner = 'me',
): Promise<OperationRecord> {
  hooks.add({ interviewId, challengeId: 'c', deadlineAt: Date.now() + 60_000 });
  const { operation } = await engine.enqueue({
    interviewId,
    type: 'create',
    scheduledAt: Date.now(),
  });
  return (await engine.ops.claim(operation.id, {
    owner,
    now: Date.now(),
    leaseMs: config.LEASE_MS,
    maxAttempts: 2,
  }))!;
}

describe('OperationRunner', () => {
  it('runs a create: driver side effect, interview statuses, gap-free log ending in `end`', async () => {
    const op = await claimedCreate();
    expect(await runnerFor(op).run()).toBe('completed');
    expect(await engine.get(op.id)).toMatchObject({
      status: 'completed',
      attempt: 1,
      result: { instance: { state: 'ready' } },
    });
    expect(readFakeRecord(recordFile).map((e) => e.kind)).toEqual(['create-call', 'create']);
    expect(hooks.statuses.get(op.interviewId)?.map((s) => s.status)).toEqual([
      'provisioning',
      'ready',
    ]);
    const log = await engine.logs(op.id);
    expect(log.map((e) => e.seq)).toEqual(log.map((_, i) => i + 1));
    expect(log[0]).toMatchObject({ kind: 'status', status: 'running' });
    expect(log.at(-2)).toMatchObject({ kind: 'status', status: 'completed' });
    expect(log.at(-1)).toMatchObject({ kind: 'end', status: 'completed' });
    expect(globals.map((g) => g.data.status)).toEqual(['pending', 'running', 'completed']);
  });

  it('cancels a create whose interview does not exist', async () => {
    const { operation } = await engine.enqueue({
      interviewId: `iv_${randomUUID()}`,
      type: 'create',
      scheduledAt: Date.now(),
    });
    const op = (await engine.ops.claim(operation.id, {
      owner: 'me',
      now: Date.now(),
      leaseMs: config.LEASE_MS,
      maxAttempts: 2,
    }))!;
    expect(await runnerFor(op).run()).toBe('cancelled');
    expect(await engine.get(op.id)).toMatchObject({
      status: 'cancelled',
      error: 'interview not found',
    });
    expect(readFakeRecord(recordFile)).toEqual([]);
  });

  it('retries a failed attempt after the backoff, then fails when attempts run out', async () => {
    const op = await claimedCreate();
    const fail = () => new Error('boom');
    expect(await runnerFor(op, { fail }).run()).toBe('retry');
    const queued = (await engine.get(op.id))!;
    expect(queued).toMatchObject({
      status: 'pending',
      attempt: 1,
      error: 'attempt 1 of 2 failed: boom',
    });
    expect(queued.owner).toBeUndefined();
    expect(queued.scheduledAt).toBeGreaterThan(Date.now() - 50);
    const again = await engine.ops.claim(op.id, {
      owner: 'me',
      now: queued.scheduledAt,
      leaseMs: config.LEASE_MS,
      maxAttempts: 2,
    });
    expect(again?.attempt).toBe(2);
    expect(await runnerFor(again!, { fail }).run()).toBe('failed');
    expect(await engine.get(op.id)).toMatchObject({
      status: 'failed',
      error: 'attempt 2 of 2 failed: boom',
    });
    expect(hooks.lastStatus(op.interviewId)).toBe('failed');
    const log = await engine.logs(op.id);
    expect(log.map((e) => e.seq)).toEqual(log.map((_, i) => i + 1));
    expect(log.filter((e) => e.kind === 'status').map((e) => e.status)).toEqual([
      'running',
      'pending',
      'running',
      'failed',
    ]);
    expect(log.at(-1)).toMatchObject({ kind: 'end', status: 'failed' });
  });

  it('aborts a running driver call within a heartbeat when another process cancels it', async () => {
    const op = await claimedCreate();
    const runner = runnerFor(op, { createMs: 10_000 });
    const done = runner.run();
    await waitFor(() => readFakeRecord(recordFile).some((e) => e.kind === 'create'));
    // A different engine instance: no in-process shortcut, only the stored flag.
    const other = new OperationsEngine({ db: t.db, tables: t.tables, publisher, config });
    expect((await other.cancel(op.id)).outcome).toBe('cancel-requested');
    const requestedAt = Date.now();
    expect(await done).toBe('cancelled');
    // The driver saw its signal within one heartbeat (LEASE_MS / 3) of the request.
    const aborted = readFakeRecord(recordFile).find((e) => e.kind === 'aborted');
    expect(aborted!.at - requestedAt).toBeLessThan(config.LEASE_MS / 3 + 300);
    expect(await engine.get(op.id)).toMatchObject({
      status: 'cancelled',
      error: 'cancel requested',
    });
    expect((await engine.logs(op.id)).at(-1)).toMatchObject({ kind: 'end', status: 'cancelled' });
  });

  it('stops writing and aborts when its lease was taken over', async () => {
    const op = await claimedCreate();
    const runner = runnerFor(op, { createMs: 10_000 });
    const done = runner.run();
    await waitFor(() => readFakeRecord(recordFile).some((e) => e.kind === 'create'));
    // Its first entries (running, provisioning, instance created) are stored...
    await waitForAsync(async () => (await engine.logStore.lastSeq(op.id)) >= 3);
    // ...then another owner claims as if the lease had expired (its clock says so).
    const thief = await engine.ops.claim(op.id, {
      owner: 'thief',
      now: op.leaseUntil! + 1,
      leaseMs: 60_000,
      maxAttempts: 5,
    });
    expect(thief).toMatchObject({ owner: 'thief', attempt: 2 });
    const seqAtTakeover = await engine.logStore.lastSeq(op.id);
    expect(await done).toBe('lease-lost');
    expect(readFakeRecord(recordFile).map((e) => e.kind)).toContain('aborted');
    // Nothing from the old runner after the takeover: record and log untouched.
    expect(await engine.get(op.id)).toEqual(thief);
    expect(await engine.logStore.lastSeq(op.id)).toBe(seqAtTakeover);
  });

  it('destroy cancels the queued create of its interview, then destroys', async () => {
    const interviewId = `iv_${randomUUID()}`;
    hooks.add({ interviewId, challengeId: 'c', deadlineAt: Date.now() });
    const create = await engine.enqueue({
      interviewId,
      type: 'create',
      scheduledAt: Date.now() + 60_000,
    });
    const { operation } = await engine.enqueue({
      interviewId,
      type: 'destroy',
      scheduledAt: Date.now(),
    });
    const op = (await engine.ops.claim(operation.id, {
      owner: 'me',
      now: Date.now(),
      leaseMs: config.LEASE_MS,
      maxAttempts: 2,
    }))!;
    expect(await runnerFor(op).run()).toBe('completed');
    expect(await engine.get(create.operation.id)).toMatchObject({
      status: 'cancelled',
      error: 'interview is being destroyed',
    });
    expect(readFakeRecord(recordFile).map((e) => e.kind)).toEqual([
      'destroy-call',
      'destroy-missing',
    ]);
    expect(hooks.statuses.get(interviewId)?.map((s) => s.status)).toEqual(['destroying', 'ended']);
  });

  it('destroy waits for a running create to stop before destroying its instance', async () => {
    const createOp = await claimedCreate(undefined, 'creator');
    const createRun = runnerFor(createOp, { createMs: 10_000 }, 'creator').run();
    await waitFor(() => readFakeRecord(recordFile).some((e) => e.kind === 'create'));
    const { operation } = await engine.enqueue({
      interviewId: createOp.interviewId,
      type: 'destroy',
      scheduledAt: Date.now(),
    });
    const op = (await engine.ops.claim(operation.id, {
      owner: 'me',
      now: Date.now(),
      leaseMs: config.LEASE_MS,
      maxAttempts: 2,
    }))!;
    expect(await runnerFor(op).run()).toBe('completed');
    expect(await createRun).toBe('cancelled');
    const kinds = readFakeRecord(recordFile).map((e) => e.kind);
    expect(kinds.indexOf('aborted')).toBeLessThan(kinds.indexOf('destroy-call'));
    expect(kinds.at(-1)).toBe('destroy');
    expect((await engine.get(op.id))?.result).toEqual({
      archive: { key: `fake/${createOp.interviewId}.tar`, bytes: 0 },
    });
  });
});

async function waitForAsync(cond: () => Promise<boolean>, timeoutMs = 5000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > until) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 10));
  }
}

async function waitFor(cond: () => boolean, timeoutMs = 5000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > until) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 10));
  }
}
