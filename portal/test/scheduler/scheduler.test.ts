import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { randomUUID } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { noopPublisher } from '@/lib/events/publisher';
import { defaultCatalog, type Catalog } from '@/lib/operations/catalog';
import { systemClock, type Clock } from '@/lib/operations/clock';
import type { OperationsConfig } from '@/lib/operations/config';
import { destroyOperationId, OperationsEngine } from '@/lib/operations/engine';
import { MemoryInterviewHooks } from '@/lib/operations/interview-hooks';
import { dueDeadlines } from '@/lib/scheduler/deadline-sweeper';
import { Scheduler } from '@/lib/scheduler/scheduler';
import type { OperationRecord } from '@/lib/store/types';
import { tableNames, type TableNames } from '@/lib/config/env';
import { ensureTables } from '@/lib/store/tables';
import { startTestDb, type TestDb } from '../support/dynalite';
import { FakeDriver, readFakeRecord, type FakeDriverOptions } from '../support/fake-driver';

const base: OperationsConfig = {
  LEASE_MS: 3000,
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

let t: TestDb;
let recordFile: string;
let tables: TableNames;
const schedulers: Scheduler[] = [];
beforeAll(async () => {
  t = await startTestDb();
});
afterAll(() => t.stop());
beforeEach(async () => {
  recordFile = path.join(mkdtempSync(path.join(tmpdir(), 'sched-')), 'fake.jsonl');
  // Each test its own tables: a scheduler sees the whole table.
  tables = tableNames(`s${randomUUID().slice(0, 8)}`, 'test');
  await ensureTables(t.db as never, tables);
});
afterEach(async () => {
  await Promise.all(schedulers.splice(0).map((s) => s.close(0)));
});

function setup(
  over: Partial<OperationsConfig> = {},
  driverOpts: Partial<FakeDriverOptions> = {},
  owner = 'a',
  clock: Clock = systemClock,
) {
  const config = { ...base, ...over };
  const engine = new OperationsEngine({
    db: t.db,
    tables,
    publisher: noopPublisher,
    config,
    catalog,
    clock,
  });
  const hooks = new MemoryInterviewHooks({ anyInterview: true });
  const scheduler = new Scheduler({
    engine,
    driver: new FakeDriver({ recordFile, ...driverOpts }),
    publisher: noopPublisher,
    hooks,
    config,
    owner,
    clock,
  });
  schedulers.push(scheduler);
  return { engine, scheduler, hooks, config };
}

const iv = () => `iv_${randomUUID()}`;

describe('dueDeadlines', () => {
  it('picks create operations whose deadline passed, earliest first', () => {
    const op = (id: string, type: 'create' | 'destroy', autoDestroyAt?: number) =>
      ({ id, interviewId: `i-${id}`, type, autoDestroyAt }) as OperationRecord;
    expect(
      dueDeadlines(
        [
          op('a', 'create', 20),
          op('b', 'create', 10),
          op('c', 'create', 31),
          op('d', 'destroy', 5),
          op('e', 'create'),
        ],
        30,
      ).map((a) => a.createOperationId),
    ).toEqual(['b', 'a']);
  });
});

describe('Scheduler.run', () => {
  it('claims a due operation and leaves one that is not due yet', async () => {
    const { engine, scheduler } = setup();
    const now = Date.now();
    const due = await engine.enqueue({ interviewId: iv(), type: 'create', scheduledAt: now - 10 });
    const later = await engine.enqueue({
      interviewId: iv(),
      type: 'create',
      scheduledAt: now + 60_000,
    });
    const stats = await scheduler.run(now);
    expect(stats.scanned).toBe(true);
    expect(stats.claimed).toBeGreaterThanOrEqual(1);
    await scheduler.idle();
    expect((await engine.get(due.operation.id))?.status).toBe('completed');
    expect((await engine.get(later.operation.id))?.status).toBe('scheduled');
  });

  it('wakes up at the earliest due time it saw, not only on its poll', async () => {
    const { engine, scheduler } = setup({ SCHEDULER_POLL_MS: 60_000 });
    const now = Date.now();
    await engine.enqueue({ interviewId: iv(), type: 'create', scheduledAt: now + 1500 });
    const stats = await scheduler.run(now);
    expect(stats.nextWakeAt).toBe(now + 1500);
  });

  it('enqueues the destroy of a passed deadline and runs it', async () => {
    const { engine, scheduler } = setup();
    const now = Date.now();
    const overdue = [];
    for (let i = 0; i < 2; i++) {
      const { operation } = await engine.enqueue({
        interviewId: iv(),
        type: 'create',
        scheduledAt: now - 5000,
        autoDestroyAt: now - 1000,
      });
      await engine.ops.cancelQueued(operation.id, {
        now,
        reason: 'test: never ran',
        expiresAt: Math.ceil(now / 1000) + 3600,
      });
      overdue.push(operation);
    }
    const stats = await scheduler.run(now);
    expect(stats.deadlinesDue).toBe(2);
    expect(stats.destroysEnqueued).toBe(2);
    expect(stats.claimedByType).toEqual({ destroy: 2, create: 0 });
    await scheduler.idle();
    for (const o of overdue) {
      expect((await engine.get(destroyOperationId(o.interviewId)))?.status).toBe('completed');
      expect((await engine.get(o.id))?.autoDestroyAt).toBeUndefined();
    }
    // Swept once: the next tick finds nothing to do.
    expect((await scheduler.run(Date.now())).deadlinesDue).toBe(0);
  });

  it('keeps a quarter of its slots for destroys, so creates cannot starve a deadline', async () => {
    const { engine, scheduler } = setup({ SCHEDULER_CONCURRENCY: 4 }, { createMs: 10_000 });
    const now = Date.now();
    for (let i = 0; i < 6; i++)
      await engine.enqueue({ interviewId: iv(), type: 'create', scheduledAt: now - 1000 });
    const first = await scheduler.run(now);
    expect(first.claimedByType).toEqual({ create: 3, destroy: 0 });
    expect(first.backlog).toBe(3);
    await engine.enqueue({ interviewId: iv(), type: 'destroy', scheduledAt: now });
    const second = await scheduler.run(Date.now() + base.SCHEDULER_POLL_MS); // after the next scan
    expect(second.claimedByType).toEqual({ create: 0, destroy: 1 });
  });

  it('resumes an operation whose lease expired (attempt + 1)', async () => {
    const { engine, scheduler } = setup();
    const now = Date.now();
    const { operation } = await engine.enqueue({
      interviewId: iv(),
      type: 'create',
      scheduledAt: now - 60_000,
    });
    await engine.ops.claim(operation.id, {
      owner: 'dead',
      now: now - 5000,
      leaseMs: 1000,
      maxAttempts: 2,
    });
    const stats = await scheduler.run(now);
    expect(stats.claimed).toBeGreaterThanOrEqual(1);
    await scheduler.idle();
    expect(await engine.get(operation.id)).toMatchObject({
      status: 'completed',
      attempt: 2,
      owner: 'a',
    });
  });

  it('reaps an expired operation with no attempts left, writing the reason into its log', async () => {
    const { engine, scheduler, hooks } = setup();
    const now = Date.now();
    const { operation } = await engine.enqueue({
      interviewId: iv(),
      type: 'create',
      scheduledAt: now - 60_000,
    });
    await engine.ops.claim(operation.id, {
      owner: 'dead',
      now: now - 9000,
      leaseMs: 1000,
      maxAttempts: 2,
    });
    await engine.ops.claim(operation.id, {
      owner: 'dead',
      now: now - 5000,
      leaseMs: 1000,
      maxAttempts: 2,
    });
    const stats = await scheduler.run(now);
    expect(stats.reaped).toBe(1);
    const op = await engine.get(operation.id);
    expect(op).toMatchObject({ status: 'failed', attempt: 2 });
    expect(op?.error).toMatch(/attempt 2 of 2: runner dead stopped renewing its lease/);
    const log = await engine.logs(operation.id);
    expect(log.map((e) => e.kind)).toEqual(['log', 'status', 'end']);
    expect(log[0]).toMatchObject({ level: 'error', message: op?.error });
    expect(hooks.lastStatus(operation.interviewId)).toBe('failed');
    expect(readFakeRecord(recordFile)).toEqual([]);
  });
});

describe('Scheduler loop', () => {
  it('runs an operation enqueued in-process at once (wake), without waiting for a poll', async () => {
    const { engine, scheduler } = setup({ SCHEDULER_POLL_MS: 60_000 });
    await scheduler.start();
    const t0 = Date.now();
    const { operation } = await engine.enqueue({
      interviewId: iv(),
      type: 'create',
      scheduledAt: Date.now(),
    });
    await until(async () => (await engine.get(operation.id))?.status === 'completed');
    expect(Date.now() - t0).toBeLessThan(1000);
  });

  it('after a restart, destroys the interviews whose deadline passed while it was down, before newly due creates', async () => {
    // Scheduler a provisions three interviews, then stops before their deadlines.
    const a = setup({}, {}, 'a');
    await a.scheduler.start();
    const deadline = Date.now() + 3000;
    const old: OperationRecord[] = [];
    for (let i = 0; i < 3; i++) {
      const r = await a.engine.enqueue({
        interviewId: iv(),
        type: 'create',
        scheduledAt: Date.now(),
        autoDestroyAt: deadline,
      });
      old.push(r.operation);
    }
    await until(async () =>
      (await Promise.all(old.map((o) => a.engine.get(o.id)))).every(
        (o) => o?.status === 'completed',
      ),
    );
    await a.scheduler.close();
    // Scheduler b starts "10 s later" (its clock says so): the deadlines have passed, and three
    // new creates are due.
    const later = { now: () => Date.now() + 10_000 };
    const fresh: OperationRecord[] = [];
    for (let i = 0; i < 3; i++) {
      const r = await a.engine.enqueue({
        interviewId: iv(),
        type: 'create',
        scheduledAt: Date.now(),
      });
      fresh.push(r.operation);
    }
    const b = setup({ SCHEDULER_CONCURRENCY: 3 }, {}, 'b', later);
    const first = await b.scheduler.start();
    expect(first.claimedByType).toEqual({ destroy: 3, create: 0 });
    await until(async () =>
      (await Promise.all(fresh.map((o) => b.engine.get(o.id)))).every(
        (o) => o?.status === 'completed',
      ),
    );
    const destroys = await Promise.all(
      old.map((o) => b.engine.get(destroyOperationId(o.interviewId))),
    );
    expect(destroys.map((d) => d?.status)).toEqual(['completed', 'completed', 'completed']);
    const creates = await Promise.all(fresh.map((o) => b.engine.get(o.id)));
    const lastDestroyStart = Math.max(...destroys.map((d) => d!.startedAt!));
    expect(Math.min(...creates.map((c) => c!.startedAt!))).toBeGreaterThanOrEqual(lastDestroyStart);
    const kinds = readFakeRecord(recordFile).map((e) => e.kind);
    expect(kinds.filter((k) => k === 'destroy')).toHaveLength(3);
  });

  it('close lets running work finish, then releases what is left, saying so in its log', async () => {
    const { engine, scheduler } = setup({}, { createMs: 10_000 });
    await scheduler.start();
    const { operation } = await engine.enqueue({
      interviewId: iv(),
      type: 'create',
      scheduledAt: Date.now(),
    });
    await until(async () => (await engine.get(operation.id))?.status === 'running');
    await scheduler.close(100);
    const op = await engine.get(operation.id);
    expect(op).toMatchObject({ status: 'pending', attempt: 0 });
    expect(op?.owner).toBeUndefined();
    const statuses = (await engine.logs(operation.id)).filter((e) => e.kind === 'status');
    expect(statuses.at(-1)).toMatchObject({
      status: 'pending',
      message: 'released back to the queue',
    });
  });
});

async function until(cond: () => Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 20));
  }
}
