import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { ScanCommand } from '@aws-sdk/lib-dynamodb';
import { tableNames, type TableNames } from '@/lib/config/env';
import { noopPublisher } from '@/lib/events/publisher';
import type { OperationsConfig } from '@/lib/operations/config';
import { destroyOperationId, OperationsEngine } from '@/lib/operations/engine';
import type { OperationRecord } from '@/lib/store/types';
import { ensureTables } from '@/lib/store/tables';
import { startTestDb, type TestDb } from '../support/dynalite';
import { countBy, readFakeRecord } from '../support/fake-driver';
import type { SchedulerProcessArgs } from '../support/scheduler-process';

/**
 * Schedulers in separate OS processes sharing one dynalite table: exactly-once (I1) and
 * deadlines (I2) across processes, including a runner killed with SIGKILL.
 */

const portalDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
// A long lease by default: on a loaded CI box a 1.5 s lease can lapse for a live runner, and
// these tests count attempts. The SIGKILL test uses a short one (it waits for the expiry).
const config: OperationsConfig = {
  LEASE_MS: 10_000,
  SCHEDULER_POLL_MS: 500,
  SCHEDULER_CONCURRENCY: 32,
  PROVISION_LEAD_SECONDS: 0,
  DESTROY_GRACE_SECONDS: 60,
  OPERATION_MAX_ATTEMPTS: 3,
};
const env = Object.fromEntries(Object.entries(config).map(([k, v]) => [k, String(v)]));
const SHORT_LEASE_MS = 1500;

let t: TestDb;
const children: ChildProcess[] = [];
const childLog: string[] = [];
beforeAll(async () => {
  t = await startTestDb();
});
afterAll(() => t.stop());
afterEach(async () => {
  await Promise.all(children.splice(0).map(stopChild));
});

interface World {
  prefix: string;
  tables: TableNames;
  engine: OperationsEngine;
  recordFile: string;
}

async function world(): Promise<World> {
  const prefix = `m${randomUUID().slice(0, 8)}`;
  const tables = tableNames(prefix, 'test');
  await ensureTables(t.db as never, tables);
  const engine = new OperationsEngine({ db: t.db, tables, publisher: noopPublisher, config });
  const recordFile = path.join(mkdtempSync(path.join(tmpdir(), 'mp-')), 'fake.jsonl');
  return { prefix, tables, engine, recordFile };
}

async function spawnScheduler(
  w: World,
  owner: string,
  extra: Partial<SchedulerProcessArgs> = {},
): Promise<ChildProcess> {
  const args: SchedulerProcessArgs = {
    endpoint: t.endpoint,
    prefix: w.prefix,
    owner,
    recordFile: w.recordFile,
    env,
    ...extra,
  };
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', 'test/support/scheduler-process.ts', JSON.stringify(args)],
    {
      cwd: portalDir,
      stdio: ['pipe', 'pipe', 'pipe'],
      env: { ...process.env, NODE_NO_WARNINGS: '1' },
    },
  );
  children.push(child);
  // Kept for the failure message: what each scheduler said (warnings, errors, health).
  createInterface({ input: child.stderr! }).on('line', (line) => {
    childLog.push(`${owner}: ${line}`);
    if (childLog.length > 40) childLog.shift();
  });
  await new Promise<void>((resolve, reject) => {
    const lines = createInterface({ input: child.stdout! });
    lines.on('line', (line) => {
      if (line.includes('"ready":true')) resolve();
    });
    child.once('exit', (code) => reject(new Error(`scheduler ${owner} exited with ${code}`)));
  });
  return child;
}

function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    child.once('exit', () => resolve());
    child.kill('SIGTERM');
    setTimeout(() => child.kill('SIGKILL'), 5000).unref();
  });
}

async function scanOps(w: World): Promise<OperationRecord[]> {
  const items: OperationRecord[] = [];
  let start: Record<string, unknown> | undefined;
  do {
    const r = await t.db.send(
      new ScanCommand({
        TableName: w.tables.operations,
        ...(start && { ExclusiveStartKey: start }),
      }),
    );
    items.push(...((r.Items ?? []) as OperationRecord[]));
    start = r.LastEvaluatedKey;
  } while (start);
  return items;
}

async function until(
  cond: () => Promise<boolean> | boolean,
  timeoutMs: number,
  what: string | (() => string),
): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > end) {
      const states = children.map((c) => `${c.pid}: ${c.exitCode ?? c.signalCode ?? 'running'}`);
      throw new Error(
        `timed out waiting for ${typeof what === 'string' ? what : what()} (schedulers ${states.join(', ')})\n${childLog.join('\n')}`,
      );
    }
    await new Promise((r) => setTimeout(r, 250));
  }
}

async function enqueueMany(
  w: World,
  n: number,
  make: (i: number) => Parameters<OperationsEngine['enqueue']>[0],
) {
  const out: OperationRecord[] = new Array(n);
  let i = 0;
  await Promise.all(
    Array.from({ length: 16 }, async () => {
      while (i < n) {
        const k = i++;
        out[k] = (await w.engine.enqueue(make(k))).operation;
      }
    }),
  );
  return out;
}

describe('schedulers in separate processes', () => {
  it('run each of 1,000 due operations exactly once', async () => {
    const w = await world();
    const now = Date.now();
    const ops = await enqueueMany(w, 1000, (i) => ({
      interviewId: `iv_${i}`,
      type: 'create',
      scheduledAt: now,
    }));
    await Promise.all([
      spawnScheduler(w, 'p1', { healthEveryMs: 10_000 }),
      spawnScheduler(w, 'p2', { healthEveryMs: 10_000 }),
    ]);
    let seen = 0;
    await until(
      () => (seen = countBy(readFakeRecord(w.recordFile), 'create-call').size) === 1000,
      120_000,
      () => `all driver calls (${seen} so far)`,
    );
    await until(
      async () => (await scanOps(w)).filter((o) => o.status === 'completed').length === 1000,
      120_000,
      'all operations completed',
    );
    const record = readFakeRecord(w.recordFile);
    const calls = countBy(record, 'create-call');
    const effects = countBy(record, 'create');
    expect(calls.size).toBe(1000);
    expect([...calls.values()].every((n) => n === 1)).toBe(true);
    expect(effects.size).toBe(1000);
    expect([...effects.values()].every((n) => n === 1)).toBe(true);
    const final = await scanOps(w);
    expect(final.every((o) => o.status === 'completed' && o.attempt === 1)).toBe(true);
    const byOwner = countBy(
      final.map((o) => ({ kind: 'create', interviewId: o.owner!, pid: 0, at: 0 })),
      'create',
    );
    expect([...byOwner.keys()].sort()).toEqual(['p1', 'p2']);
    expect(ops.length).toBe(1000);
  }, 300_000);

  it('resumes the operation of a runner killed with SIGKILL after its lease expires, without a duplicate side effect', async () => {
    const w = await world();
    const { operation } = await w.engine.enqueue({
      interviewId: 'iv_killed',
      type: 'create',
      scheduledAt: Date.now(),
    });
    const shortLease = { env: { ...env, LEASE_MS: String(SHORT_LEASE_MS) } };
    const a = await spawnScheduler(w, 'victim', { createMs: 60_000, ...shortLease });
    await until(
      () => readFakeRecord(w.recordFile).some((e) => e.kind === 'create'),
      10_000,
      'the first create',
    );
    await until(
      async () => (await w.engine.logStore.lastSeq(operation.id)) >= 3,
      5000,
      'the first log lines',
    );
    // The survivor is up before the kill: it must not take a live lease.
    await spawnScheduler(w, 'survivor', { createMs: 100, ...shortLease });
    await new Promise((r) => setTimeout(r, 500));
    expect(await w.engine.get(operation.id)).toMatchObject({ owner: 'victim', attempt: 1 });
    const killedAt = Date.now();
    a.kill('SIGKILL');
    await until(
      async () => (await w.engine.get(operation.id))?.status === 'completed',
      15_000,
      'the resumed operation',
    );

    const op = (await w.engine.get(operation.id))!;
    expect(op).toMatchObject({ status: 'completed', attempt: 2, owner: 'survivor' });
    const record = readFakeRecord(w.recordFile);
    expect(record.filter((e) => e.kind === 'create-call')).toHaveLength(2);
    expect(record.filter((e) => e.kind === 'create')).toHaveLength(1);
    expect(record.filter((e) => e.kind === 'adopt')).toHaveLength(1);

    const log = await w.engine.logs(operation.id, 0, 1000);
    expect(log.map((e) => e.seq)).toEqual(log.map((_, i) => i + 1));
    const running = log.filter((e) => e.kind === 'status' && e.status === 'running');
    expect(running.map((e) => e.data?.owner)).toEqual(['victim', 'survivor']);
    const resumedAfter = running[1]!.ts - killedAt;
    expect(resumedAfter).toBeGreaterThan(SHORT_LEASE_MS / 2);
    expect(resumedAfter).toBeLessThan(SHORT_LEASE_MS + config.SCHEDULER_POLL_MS + 1500);
    expect(log.at(-1)).toMatchObject({ kind: 'end', status: 'completed' });
  }, 60_000);

  it('fires each interview’s auto-destroy exactly once with two schedulers', async () => {
    const w = await world();
    const n = 100;
    await Promise.all([spawnScheduler(w, 'p1'), spawnScheduler(w, 'p2')]);
    // Provisioned at once; deadlines pass a few seconds later, 10 ms apart.
    const now = Date.now();
    const creates = await enqueueMany(w, n, (i) => ({
      interviewId: `iv_${i}`,
      type: 'create',
      scheduledAt: now,
      autoDestroyAt: now + 2500 + i * 10,
    }));
    await until(
      async () =>
        (await scanOps(w)).filter((o) => o.type === 'destroy' && o.status === 'completed')
          .length === n,
      30_000,
      'all destroys completed',
    );
    const all = await scanOps(w);
    const destroys = all.filter((o) => o.type === 'destroy');
    expect(destroys).toHaveLength(n);
    expect(new Set(destroys.map((d) => d.id))).toEqual(
      new Set(creates.map((c) => destroyOperationId(c.interviewId))),
    );
    expect(all.filter((o) => o.type === 'create').every((c) => c.autoDestroyAt === undefined)).toBe(
      true,
    );
    const record = readFakeRecord(w.recordFile);
    const destroyCalls = countBy(record, 'destroy-call');
    expect(destroyCalls.size).toBe(n);
    expect([...destroyCalls.values()].every((c) => c === 1)).toBe(true);
    expect(countBy(record, 'destroy').size).toBe(n); // each instance existed and was removed
    expect([...countBy(record, 'create-call').values()].every((c) => c === 1)).toBe(true);
    // Late by at most the grace (in practice far less).
    for (const d of destroys) {
      expect(d.startedAt! - d.scheduledAt).toBeLessThan(config.DESTROY_GRACE_SECONDS * 1000);
    }
  }, 60_000);
});
