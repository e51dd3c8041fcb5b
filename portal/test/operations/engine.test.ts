import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomUUID } from 'node:crypto';
import { noopPublisher } from '@/lib/events/publisher';
import { isApiError } from '@/lib/http/errors';
import type { OperationsConfig } from '@/lib/operations/config';
import { destroyOperationId, OperationsEngine } from '@/lib/operations/engine';
import { sweepDeadline } from '@/lib/scheduler/deadline-sweeper';
import { startTestDb, type TestDb } from '../support/dynalite';

const config: OperationsConfig = {
  LEASE_MS: 1000,
  SCHEDULER_POLL_MS: 100,
  SCHEDULER_CONCURRENCY: 8,
  PROVISION_LEAD_SECONDS: 30,
  DESTROY_GRACE_SECONDS: 60,
  OPERATION_MAX_ATTEMPTS: 3,
};

let t: TestDb;
let engine: OperationsEngine;
beforeAll(async () => {
  t = await startTestDb();
  engine = new OperationsEngine({ db: t.db, tables: t.tables, publisher: noopPublisher, config });
});
afterAll(() => t.stop());

const iv = () => `iv_${randomUUID()}`;

async function apiStatus(p: Promise<unknown>): Promise<number> {
  try {
    await p;
    return 0;
  } catch (e) {
    if (isApiError(e)) return e.status;
    throw e;
  }
}

describe('OperationsEngine.enqueue', () => {
  it('stores a create due PROVISION_LEAD_SECONDS before the start, as scheduled', async () => {
    const start = Date.now() + 3600_000;
    const { operation, created } = await engine.enqueue({
      interviewId: iv(),
      type: 'create',
      scheduledAt: start,
      autoDestroyAt: start + 60_000,
    });
    expect(created).toBe(true);
    expect(operation).toMatchObject({
      status: 'scheduled',
      scheduledAt: start - 30_000,
      autoDestroyAt: start + 60_000,
      attempt: 0,
      version: 0,
    });
    expect(await engine.get(operation.id)).toEqual(operation);
  });

  it('stores a create whose due time has passed as pending', async () => {
    const { operation } = await engine.enqueue({
      interviewId: iv(),
      type: 'create',
      scheduledAt: Date.now(),
    });
    expect(operation.status).toBe('pending');
  });

  it('gives an interview exactly one destroy operation (deterministic id)', async () => {
    const id = iv();
    const first = await engine.enqueue({
      interviewId: id,
      type: 'destroy',
      scheduledAt: Date.now(),
    });
    const second = await engine.enqueue({
      interviewId: id,
      type: 'destroy',
      scheduledAt: Date.now() + 5000,
    });
    expect(first.operation.id).toBe(destroyOperationId(id));
    expect(first.created).toBe(true);
    expect(second).toEqual({ operation: first.operation, created: false });
    expect(await engine.byInterview(id, 'destroy')).toHaveLength(1);
  });

  it('notifies in-process listeners of new operations only', async () => {
    const seen: string[] = [];
    const off = engine.onEnqueued((op) => seen.push(op.id));
    const id = iv();
    await engine.enqueue({ interviewId: id, type: 'destroy', scheduledAt: Date.now() });
    await engine.enqueue({ interviewId: id, type: 'destroy', scheduledAt: Date.now() });
    off();
    expect(seen).toEqual([destroyOperationId(id)]);
  });

  it('rejects an autoDestroyAt on a destroy', async () => {
    expect(
      await apiStatus(
        engine.enqueue({ interviewId: iv(), type: 'destroy', scheduledAt: 1, autoDestroyAt: 2 }),
      ),
    ).toBe(400);
  });
});

describe('OperationsEngine.cancel', () => {
  it('cancels a queued operation at once and ends its log', async () => {
    const { operation } = await engine.enqueue({
      interviewId: iv(),
      type: 'create',
      scheduledAt: Date.now() + 600_000,
    });
    const r = await engine.cancel(operation.id, 'changed my mind');
    expect(r.outcome).toBe('cancelled');
    expect(r.operation).toMatchObject({ status: 'cancelled', error: 'changed my mind' });
    expect(r.operation.expiresAt).toBeGreaterThan(Date.now() / 1000);
    expect((await engine.get(operation.id))?.status).toBe('cancelled');
    const log = await engine.logs(operation.id, 0, 10);
    expect(log.map((e) => [e.seq, e.kind, e.status])).toEqual([
      [1, 'status', 'cancelled'],
      [2, 'end', 'cancelled'],
    ]);
  });

  it('is a conflict on a terminal operation and not found on an unknown one', async () => {
    const { operation } = await engine.enqueue({
      interviewId: iv(),
      type: 'create',
      scheduledAt: Date.now(),
    });
    await engine.cancel(operation.id);
    expect(await apiStatus(engine.cancel(operation.id))).toBe(409);
    expect(await apiStatus(engine.cancel('op_nope'))).toBe(404);
  });

  it('asks a running operation to stop (flag set, nothing else changed)', async () => {
    const { operation } = await engine.enqueue({
      interviewId: iv(),
      type: 'create',
      scheduledAt: Date.now(),
    });
    const claimed = await engine.ops.claim(operation.id, {
      owner: 'x',
      now: Date.now(),
      leaseMs: 5000,
      maxAttempts: 3,
    });
    const heard: string[] = [];
    const off = engine.onCancelRequested((id) => heard.push(id));
    const r = await engine.cancel(operation.id);
    off();
    expect(r.outcome).toBe('cancel-requested');
    expect(r.operation).toMatchObject({
      status: 'running',
      cancelRequested: true,
      version: claimed!.version,
      owner: 'x',
    });
    expect(heard).toEqual([operation.id]);
  });
});

describe('OperationsEngine.setDeadline', () => {
  it('moves a pending deadline', async () => {
    const { operation } = await engine.enqueue({
      interviewId: iv(),
      type: 'create',
      scheduledAt: Date.now(),
      autoDestroyAt: Date.now() + 60_000,
    });
    expect(await engine.setDeadline(operation.id, Date.now() + 120_000)).toBe('updated');
  });

  it('is too late once the deadline was swept', async () => {
    const at = Date.now() - 1;
    const { operation } = await engine.enqueue({
      interviewId: iv(),
      type: 'create',
      scheduledAt: at,
      autoDestroyAt: at,
    });
    await sweepDeadline(
      engine,
      { createOperationId: operation.id, interviewId: operation.interviewId, autoDestroyAt: at },
      Date.now(),
    );
    expect(await engine.setDeadline(operation.id, Date.now() + 60_000)).toBe('too-late');
  });

  it('moves a destroy the sweeper enqueued just before the extension', async () => {
    const at = Date.now() - 1;
    const interviewId = iv();
    const { operation } = await engine.enqueue({
      interviewId,
      type: 'create',
      scheduledAt: at,
      autoDestroyAt: at,
    });
    // The sweeper's first step happened (destroy enqueued), its clear did not yet.
    await engine.enqueue({ interviewId, type: 'destroy', scheduledAt: at });
    const later = Date.now() + 60_000;
    expect(await engine.setDeadline(operation.id, later)).toBe('updated');
    expect(await engine.get(destroyOperationId(interviewId))).toMatchObject({
      status: 'scheduled',
      scheduledAt: later,
    });
  });

  it('does not move a destroy that was requested by hand', async () => {
    const interviewId = iv();
    const { operation } = await engine.enqueue({
      interviewId,
      type: 'create',
      scheduledAt: Date.now(),
      autoDestroyAt: Date.now() + 60_000,
    });
    await engine.enqueue({ interviewId, type: 'destroy', scheduledAt: Date.now() });
    expect(await engine.setDeadline(operation.id, Date.now() + 120_000)).toBe('too-late');
  });
});
