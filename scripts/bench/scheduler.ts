/**
 * Scheduler reaction benchmark (`npm run bench:scheduler`).
 *
 * Against an embedded dynalite: N pending create operations due evenly over `--spread-ms`
 * (default 1,000 over 60 s), each with an auto-destroy deadline `--destroy-after-ms` after its
 * due time (so the deadlines are spread too); one or two schedulers (`--schedulers`) with a fast
 * fake driver. Then a burst: `--burst` creates due at the same instant.
 *
 * Measured (the DESIGN.md definition): running time = when the claim succeeded (the runner's
 * `operation.updated` running event, emitted right after the claim) minus the due time;
 * destroy lateness = the destroy's claim minus the interview's deadline; duplicates = driver
 * calls beyond one per operation in the fake driver's record. The burst is bounded by the store
 * (dynalite takes a few hundred writes per second; each operation costs about three writes),
 * not by the scheduler's reaction.
 *
 * Prints progress, then ONE JSON line last.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { parseConfig, tableNames } from '../../portal/src/lib/config/env';
import type { EventPublisher } from '../../portal/src/lib/events/publisher';
import { OperationsEngine } from '../../portal/src/lib/operations/engine';
import { MemoryInterviewHooks } from '../../portal/src/lib/operations/interview-hooks';
import { Scheduler } from '../../portal/src/lib/scheduler/scheduler';
import { createDocumentClient } from '../../portal/src/lib/store/client';
import { startDynalite } from '../../portal/src/lib/store/embedded-dynalite';
import { ensureTables } from '../../portal/src/lib/store/tables';
import { FakeDriver, readFakeRecord } from '../../portal/test/support/fake-driver';

const { values: flags } = parseArgs({
  options: {
    pending: { type: 'string', default: '1000' },
    'spread-ms': { type: 'string', default: '60000' },
    'destroy-after-ms': { type: 'string', default: '5000' },
    schedulers: { type: 'string', default: '1' },
    burst: { type: 'string', default: '100' },
    'driver-ms': { type: 'string', default: '5' },
  },
});
const N = int('pending', 1, 100_000);
const SPREAD = int('spread-ms', 0, 3600_000);
const DESTROY_AFTER = int('destroy-after-ms', 0, 3600_000);
const SCHEDULERS = int('schedulers', 1, 8);
const BURST = int('burst', 0, 10_000);
const DRIVER_MS = int('driver-ms', 0, 60_000);

function int(name: keyof typeof flags, min: number, max: number): number {
  const v = Number(flags[name]);
  if (!Number.isInteger(v) || v < min || v > max) {
    console.error(`--${name} must be an integer in [${min}, ${max}]`);
    process.exit(2);
  }
  return v;
}

const log = (msg: string) => console.log(`[bench:scheduler] ${msg}`);

interface Claim {
  type: string;
  due: number;
  at: number;
}

async function main() {
  const config = parseConfig({ ...process.env, PROVISION_LEAD_SECONDS: '0', LOG_LEVEL: 'silent' });
  const dynalite = await startDynalite();
  const dir = mkdtempSync(path.join(tmpdir(), 'bench-scheduler-'));
  const recordFile = path.join(dir, 'fake.jsonl');
  const tables = tableNames('bench', 'local');
  const seedDb = createDocumentClient({ endpoint: dynalite.endpoint, region: config.AWS_REGION });
  await ensureTables(seedDb as never, tables);

  // First claim of every operation, from the runner's `operation.updated` running event.
  const claims = new Map<string, Claim>();
  const publisher: EventPublisher = {
    operationEvents() {},
    async global(e) {
      const d = e.data as { id: string; type: string; status: string; scheduledAt: number };
      if (d.status === 'running' && !claims.has(d.id)) {
        claims.set(d.id, { type: d.type, due: d.scheduledAt, at: Date.now() });
      }
    },
  };
  const seeder = new OperationsEngine({
    db: seedDb,
    tables,
    publisher: { ...publisher, async global() {} },
    config,
  });

  // Seed: due times spread evenly, starting once seeding and start-up are surely done (the
  // schedulers then idle until the first due time, so seeding never counts as latency).
  const seedMs = Math.max(5000, N * 15);
  const t0 = Date.now() + seedMs;
  log(
    `seeding ${N} creates due over ${SPREAD} ms from +${seedMs} ms, deadlines ${DESTROY_AFTER} ms later`,
  );
  let next = 0;
  await Promise.all(
    Array.from({ length: 16 }, async () => {
      while (next < N) {
        const i = next++;
        const due = t0 + (N === 1 ? 0 : Math.round((i * SPREAD) / (N - 1)));
        await seeder.enqueue({
          interviewId: `iv_${i}`,
          type: 'create',
          scheduledAt: due,
          autoDestroyAt: due + DESTROY_AFTER,
        });
      }
    }),
  );
  if (Date.now() > t0) log(`warning: seeding overran the first due time by ${Date.now() - t0} ms`);

  const schedulers: Scheduler[] = [];
  const driver = new FakeDriver({ recordFile, createMs: DRIVER_MS, destroyMs: DRIVER_MS });
  for (let s = 0; s < SCHEDULERS; s++) {
    const db = createDocumentClient({ endpoint: dynalite.endpoint, region: config.AWS_REGION });
    const engine = new OperationsEngine({ db, tables, publisher, config });
    schedulers.push(
      new Scheduler({
        engine,
        driver,
        publisher,
        hooks: new MemoryInterviewHooks({ anyInterview: true }),
        config,
        owner: `bench-${s}`,
        logger: {
          debug() {},
          info() {},
          warn: (o, m) => console.error('warn', m, o),
          error: (o, m) => console.error('error', m, o),
        },
      }),
    );
  }
  await Promise.all(schedulers.map((s) => s.start()));
  log(
    `${SCHEDULERS} scheduler(s) started (poll ${config.SCHEDULER_POLL_MS} ms, concurrency ${config.SCHEDULER_CONCURRENCY})`,
  );

  const count = (type: string) => [...claims.values()].filter((c) => c.type === type).length;
  // Event-loop stalls of this process, to tell them apart from a slow store or a busy machine.
  const loopDelay = monitorEventLoopDelay({ resolution: 10 });
  loopDelay.enable();
  const progress = setInterval(() => {
    log(
      `running so far: creates ${count('create')}/${N}, destroys ${count('destroy')}/${N}; ` +
        `event loop delay max ${Math.round(loopDelay.max / 1e6)} ms`,
    );
    loopDelay.reset();
    if (process.env.BENCH_DEBUG) for (const s of schedulers) log(JSON.stringify(s.health()));
  }, 5000);
  await waitUntil(
    () => count('create') >= N && count('destroy') >= N,
    t0 + SPREAD + DESTROY_AFTER + 120_000,
  );

  // Burst: BURST creates due at the same instant.
  let burstLastMs: number | null = null;
  const ids: string[] = [];
  if (BURST > 0) {
    const burstAt = Date.now() + Math.max(2000, BURST * 8);
    next = 0;
    await Promise.all(
      Array.from({ length: 16 }, async () => {
        while (next < BURST) {
          const i = next++;
          ids.push(
            (
              await seeder.enqueue({
                interviewId: `burst_${i}`,
                type: 'create',
                scheduledAt: burstAt,
              })
            ).operation.id,
          );
        }
      }),
    );
    log(`burst: ${BURST} creates due at the same instant`);
    await waitUntil(() => ids.every((id) => claims.has(id)), burstAt + 120_000);
    burstLastMs = Math.max(...ids.map((id) => claims.get(id)!.at)) - burstAt;
  }
  clearInterval(progress);
  await Promise.all(schedulers.map((s) => s.idle()));
  await Promise.all(schedulers.map((s) => s.close()));

  const record = readFakeRecord(recordFile);
  const calls = new Map<string, number>();
  for (const e of record) {
    if (e.kind === 'create-call' || e.kind === 'destroy-call') {
      const k = `${e.kind}:${e.interviewId}`;
      calls.set(k, (calls.get(k) ?? 0) + 1);
    }
  }
  const duplicates = [...calls.values()].reduce((a, n) => a + (n - 1), 0);
  const burst = new Set(ids);
  const latency = (type: string) =>
    [...claims.entries()]
      .filter(([id, c]) => c.type === type && !burst.has(id))
      .map(([, c]) => c.at - c.due)
      .sort((a, b) => a - b);
  const creates = latency('create');
  const worst = [...claims.entries()]
    .filter(([id, c]) => c.type === 'create' && !burst.has(id))
    .sort((a, b) => b[1].at - b[1].due - (a[1].at - a[1].due))
    .slice(0, 10)
    .map(([, c]) => `${c.at - c.due} ms at +${((c.due - t0) / 1000).toFixed(1)} s`);
  log(`slowest creates: ${worst.join(', ')}`);
  const destroys = latency('destroy');
  const pct = (xs: number[], p: number) =>
    xs.length ? xs[Math.min(xs.length - 1, Math.ceil((p / 100) * xs.length) - 1)]! : NaN;
  const health = schedulers.map((s) => s.health().totals);
  log(`scheduler totals: ${JSON.stringify(health)}`);
  log(
    `create due→running: p50 ${pct(creates, 50)} ms, p99 ${pct(creates, 99)} ms, max ${creates.at(-1)} ms (${creates.length})`,
  );
  log(
    `destroy lateness: p50 ${pct(destroys, 50)} ms, p99 ${pct(destroys, 99)} ms, max ${destroys.at(-1)} ms (${destroys.length})`,
  );
  log(`burst of ${BURST}: last running after ${burstLastMs} ms; duplicates: ${duplicates}`);

  seedDb.destroy();
  await dynalite.stop();
  rmSync(dir, { recursive: true, force: true });
  console.log(
    JSON.stringify({
      bench: 'scheduler',
      pending: N,
      schedulers: SCHEDULERS,
      spread_ms: SPREAD,
      due_to_running_p50_ms: pct(creates, 50),
      due_to_running_p99_ms: pct(creates, 99),
      destroy_lateness_p99_ms: pct(destroys, 99),
      duplicates,
      burst: BURST,
      burst100_last_running_ms: burstLastMs,
    }),
  );
  process.exit(0);
}

async function waitUntil(cond: () => boolean, deadline: number): Promise<void> {
  while (!cond()) {
    if (Date.now() > deadline) throw new Error('benchmark timed out');
    await new Promise((r) => setTimeout(r, 50));
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
