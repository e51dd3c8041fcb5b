import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomUUID } from 'node:crypto';
import { OperationStore } from '@/lib/store/operations';
import type { OperationRecord } from '@/lib/store/types';
import { startTestDb, type TestDb } from '../support/dynalite';

let t: TestDb;
let store: OperationStore;
beforeAll(async () => {
  t = await startTestDb();
  store = new OperationStore(t.db, t.tables.operations);
});
afterAll(() => t.stop());

const NOW = Date.now();
const LEASE = 1000;

function op(over: Partial<OperationRecord> = {}): OperationRecord {
  return {
    id: `op_${randomUUID()}`,
    interviewId: `iv_${randomUUID()}`,
    type: 'create',
    status: 'pending',
    scheduledAt: NOW,
    attempt: 0,
    version: 0,
    createdAt: NOW,
    ...over,
  };
}

describe('OperationStore', () => {
  it('put is conditional: a second put of the same id is refused', async () => {
    const o = op();
    expect(await store.put(o)).toBe(true);
    expect(await store.put({ ...o, status: 'scheduled' })).toBe(false);
    expect((await store.get(o.id, NOW))?.status).toBe('pending');
  });

  it('claims a due queued operation once: owner, lease, attempt and version set', async () => {
    const o = op();
    await store.put(o);
    const a = await store.claim(o.id, { owner: 'a', now: NOW, leaseMs: LEASE, maxAttempts: 3 });
    expect(a).toMatchObject({
      status: 'running',
      owner: 'a',
      leaseUntil: NOW + LEASE,
      attempt: 1,
      version: 1,
    });
    expect(
      await store.claim(o.id, { owner: 'b', now: NOW, leaseMs: LEASE, maxAttempts: 3 }),
    ).toBeNull();
  });

  it('does not claim an operation that is not due yet', async () => {
    const o = op({ status: 'scheduled', scheduledAt: NOW + 5000 });
    await store.put(o);
    expect(
      await store.claim(o.id, { owner: 'a', now: NOW, leaseMs: LEASE, maxAttempts: 3 }),
    ).toBeNull();
    expect(
      await store.claim(o.id, { owner: 'a', now: NOW + 5000, leaseMs: LEASE, maxAttempts: 3 }),
    ).not.toBeNull();
  });

  it('reclaims a running operation only after its lease expired, and not past max attempts', async () => {
    const o = op();
    await store.put(o);
    await store.claim(o.id, { owner: 'a', now: NOW, leaseMs: LEASE, maxAttempts: 2 });
    expect(
      await store.claim(o.id, { owner: 'b', now: NOW + LEASE - 1, leaseMs: LEASE, maxAttempts: 2 }),
    ).toBeNull();
    const b = await store.claim(o.id, {
      owner: 'b',
      now: NOW + LEASE + 1,
      leaseMs: LEASE,
      maxAttempts: 2,
    });
    expect(b).toMatchObject({ owner: 'b', attempt: 2, version: 2 });
    expect(
      await store.claim(o.id, { owner: 'c', now: NOW + 3 * LEASE, leaseMs: LEASE, maxAttempts: 2 }),
    ).toBeNull();
  });

  it('renew and finish are conditioned on owner + version', async () => {
    const o = op();
    await store.put(o);
    const a = (await store.claim(o.id, { owner: 'a', now: NOW, leaseMs: LEASE, maxAttempts: 3 }))!;
    const b = (await store.claim(o.id, {
      owner: 'b',
      now: NOW + LEASE + 1,
      leaseMs: LEASE,
      maxAttempts: 3,
    }))!;
    expect(
      await store.renew(o.id, { owner: 'a', version: a.version, leaseUntil: NOW + 5000 }),
    ).toBeNull();
    const fin = { status: 'completed' as const, now: NOW, expiresAt: 0 };
    expect(await store.finish(o.id, { owner: 'a', version: a.version, ...fin })).toBeNull();
    // Same owner id, old version (e.g. a restarted process reusing its id): still refused.
    expect(await store.finish(o.id, { owner: 'b', version: a.version, ...fin })).toBeNull();
    expect(
      await store.renew(o.id, { owner: 'b', version: b.version, leaseUntil: NOW + 5000 }),
    ).toEqual({
      cancelRequested: false,
    });
    const done = await store.finish(o.id, {
      owner: 'b',
      version: b.version,
      ...fin,
      expiresAt: 123,
    });
    expect(done).toMatchObject({ status: 'completed', version: b.version + 1, expiresAt: 123 });
    expect(done?.leaseUntil).toBeUndefined();
  });

  it('readers drop items whose expiresAt has passed', async () => {
    const o = op({ status: 'completed', expiresAt: Math.floor(NOW / 1000) - 1 });
    await store.put(o);
    expect(await store.get(o.id, NOW)).toBeNull();
    expect(await store.byInterview(o.interviewId, NOW)).toEqual([]);
  });

  it('queries due work, expired leases and deadlines through the GSIs', async () => {
    const iv = `iv_${randomUUID()}`;
    const base = NOW + 10_000_000; // a time range no other test uses
    const due = op({ interviewId: iv, scheduledAt: base - 10 });
    const later = op({ interviewId: iv, status: 'scheduled', scheduledAt: base + 1000 });
    const deadline = op({
      interviewId: iv,
      status: 'completed',
      scheduledAt: base - 20,
      autoDestroyAt: base - 5,
    });
    for (const o of [due, later, deadline]) await store.put(o);
    const page = await store.queryDue(base, { now: base, limit: 100 });
    expect(page.items.map((o) => o.id)).toContain(due.id);
    expect(page.items.map((o) => o.id)).not.toContain(later.id);
    const ahead = await store.queryDue(base + 1000, { now: base, limit: 100 });
    expect(ahead.items.map((o) => o.id)).toContain(later.id);
    const deadlines = await store.queryDeadlines(base, { now: base, limit: 100 });
    expect(deadlines.items.map((o) => o.id)).toEqual([deadline.id]);
    expect((await store.byInterview(iv, base, 'create')).length).toBe(3);

    const claimed = (await store.claim(due.id, {
      owner: 'a',
      now: base,
      leaseMs: LEASE,
      maxAttempts: 3,
    }))!;
    expect(
      (await store.queryExpiredLeases(base + LEASE - 1, 100)).items.map((o) => o.id),
    ).not.toContain(claimed.id);
    expect(
      (await store.queryExpiredLeases(base + LEASE + 1, 100)).items.map((o) => o.id),
    ).toContain(claimed.id);
  });

  it('pages a due query and reports truncation', async () => {
    const base = NOW + 20_000_000;
    for (let i = 0; i < 7; i++) await store.put(op({ scheduledAt: base + i }));
    const page = await store.queryDue(base + 6, { now: base, limit: 5 });
    expect(page.items.length).toBe(5);
    expect(page.truncated).toBe(true);
    expect(page.items.map((o) => o.scheduledAt)).toEqual(
      [...page.items.map((o) => o.scheduledAt)].sort((a, b) => a - b),
    );
  });

  it('clearAutoDestroy only clears the value seen; setAutoDestroyAt only while it is set', async () => {
    const o = op({ autoDestroyAt: NOW + 100 });
    await store.put(o);
    expect(await store.clearAutoDestroy(o.id, NOW + 1)).toBe(false);
    expect(await store.setAutoDestroyAt(o.id, NOW + 200)).not.toBeNull();
    expect(await store.clearAutoDestroy(o.id, NOW + 100)).toBe(false);
    expect(await store.clearAutoDestroy(o.id, NOW + 200)).toBe(true);
    expect(await store.setAutoDestroyAt(o.id, NOW + 300)).toBeNull();
  });

  it('cancels only queued operations; requestCancel only running ones, without a version bump', async () => {
    const q = op();
    await store.put(q);
    expect(await store.requestCancel(q.id)).toBeNull();
    expect(await store.cancelQueued(q.id, { now: NOW, reason: 'x', expiresAt: 0 })).toMatchObject({
      status: 'cancelled',
    });
    const r = op();
    await store.put(r);
    const claimed = (await store.claim(r.id, {
      owner: 'a',
      now: NOW,
      leaseMs: LEASE,
      maxAttempts: 3,
    }))!;
    expect(await store.cancelQueued(r.id, { now: NOW, reason: 'x', expiresAt: 0 })).toBeNull();
    expect(await store.requestCancel(r.id)).toMatchObject({
      cancelRequested: true,
      version: claimed.version,
    });
    expect(
      await store.renew(r.id, { owner: 'a', version: claimed.version, leaseUntil: NOW + 5000 }),
    ).toEqual({
      cancelRequested: true,
    });
  });
});
