import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomUUID } from 'node:crypto';
import type { EventPublisher } from '@/lib/events/publisher';
import { systemClock } from '@/lib/operations/clock';
import { LogWriter } from '@/lib/operations/log-writer';
import { OperationLogStore } from '@/lib/store/operation-logs';
import type { OperationEvent } from '@/lib/store/types';
import { startTestDb, type TestDb } from '../support/dynalite';

let t: TestDb;
let store: OperationLogStore;
beforeAll(async () => {
  t = await startTestDb();
  store = new OperationLogStore(t.db, t.tables.operationLogs);
});
afterAll(() => t.stop());

/** A publisher that records what it got and whether it was already stored at that moment. */
function recordingPublisher() {
  const published: { operationId: string; events: OperationEvent[]; storedSeqAtCall: number }[] =
    [];
  let writer: LogWriter | undefined;
  const publisher: EventPublisher = {
    operationEvents(operationId, events) {
      published.push({ operationId, events, storedSeqAtCall: writer?.storedSeq ?? -1 });
    },
    async global() {},
  };
  return { published, publisher, attach: (w: LogWriter) => (writer = w) };
}

const newId = () => `op_${randomUUID()}`;

describe('LogWriter', () => {
  it('assigns gap-free monotonic seqs across batches', async () => {
    const id = newId();
    const p = recordingPublisher();
    const w = new LogWriter({
      store,
      publisher: p.publisher,
      operationId: id,
      afterSeq: 0,
      clock: systemClock,
      maxBatch: 7,
    });
    for (let i = 0; i < 30; i++) w.emit({ kind: 'log', level: 'info', message: `line ${i}` });
    expect(await w.close()).toBe(true);
    const all = await store.readAfter(id, 0, 1000);
    expect(all.map((e) => e.seq)).toEqual(Array.from({ length: 30 }, (_, i) => i + 1));
    expect(all.map((e) => e.message)).toEqual(Array.from({ length: 30 }, (_, i) => `line ${i}`));
    expect(await store.lastSeq(id)).toBe(30);
  });

  it('persists an entry within 250 ms of emit without an explicit flush', async () => {
    const id = newId();
    let resolve!: (ms: number) => void;
    const published = new Promise<number>((r) => (resolve = r));
    const start = performance.now();
    const w = new LogWriter({
      store,
      publisher: { operationEvents: () => resolve(performance.now() - start), async global() {} },
      operationId: id,
      afterSeq: 0,
      clock: systemClock,
    });
    w.emit({ kind: 'log', level: 'info', message: 'hello' });
    const elapsed = await published;
    expect(elapsed).toBeLessThanOrEqual(250);
    expect((await store.readAfter(id, 0)).map((e) => e.message)).toEqual(['hello']);
    await w.close();
  });

  it('calls the publisher only after the batch is stored', async () => {
    const id = newId();
    const p = recordingPublisher();
    const w = new LogWriter({
      store,
      publisher: p.publisher,
      operationId: id,
      afterSeq: 0,
      clock: systemClock,
      maxBatch: 3,
    });
    p.attach(w);
    for (let i = 0; i < 8; i++) w.emit({ kind: 'log', level: 'info', message: `m${i}` });
    await w.close();
    expect(p.published.flatMap((b) => b.events.map((e) => e.seq))).toEqual([
      1, 2, 3, 4, 5, 6, 7, 8,
    ]);
    for (const b of p.published) expect(b.storedSeqAtCall).toBe(b.events.at(-1)!.seq);
  });

  it('stops, publishing nothing, when another writer already stored its seq', async () => {
    const id = newId();
    await store.append(
      id,
      [{ seq: 1, ts: 1, kind: 'log', message: 'from the other owner' }],
      Date.now(),
    );
    const p = recordingPublisher();
    let lost = '';
    const w = new LogWriter({
      store,
      publisher: p.publisher,
      operationId: id,
      afterSeq: 0, // stale: it did not see seq 1
      clock: systemClock,
      onLost: (r) => (lost = r),
    });
    w.emit({ kind: 'log', message: 'mine' });
    expect(await w.flush()).toBe(false);
    expect(lost).toMatch(/another writer/);
    expect(p.published).toEqual([]);
    expect(w.emit({ kind: 'log', message: 'after' })).toBeNull();
    expect((await store.readAfter(id, 0)).map((e) => e.message)).toEqual(['from the other owner']);
  });

  it('writes nothing once its guard says the lease is not held', async () => {
    const id = newId();
    let held = true;
    let lost = '';
    const w = new LogWriter({
      store,
      publisher: recordingPublisher().publisher,
      operationId: id,
      afterSeq: 0,
      clock: systemClock,
      canWrite: () => held,
      onLost: (r) => (lost = r),
    });
    w.emit({ kind: 'log', message: 'a' });
    await w.flush();
    held = false;
    w.emit({ kind: 'log', message: 'b' });
    expect(await w.flush()).toBe(false);
    expect(lost).toBe('lease not held');
    expect((await store.readAfter(id, 0)).map((e) => e.message)).toEqual(['a']);
  });

  it('resumes after the last stored seq', async () => {
    const id = newId();
    const a = new LogWriter({
      store,
      publisher: recordingPublisher().publisher,
      operationId: id,
      afterSeq: 0,
      clock: systemClock,
    });
    a.emit({ kind: 'log', message: '1' });
    a.emit({ kind: 'log', message: '2' });
    await a.close();
    const b = await LogWriter.resume({
      store,
      publisher: recordingPublisher().publisher,
      operationId: id,
      clock: systemClock,
    });
    b.emit({ kind: 'log', message: '3' });
    await b.close();
    expect((await store.readAfter(id, 0)).map((e) => [e.seq, e.message])).toEqual([
      [1, '1'],
      [2, '2'],
      [3, '3'],
    ]);
  });
});

describe('OperationLogStore.readAfter', () => {
  it('pages through batches, starting inside a batch, in order', async () => {
    const id = newId();
    const w = new LogWriter({
      store,
      publisher: recordingPublisher().publisher,
      operationId: id,
      afterSeq: 0,
      clock: systemClock,
      maxBatch: 4,
    });
    for (let i = 1; i <= 23; i++) w.emit({ kind: 'log', message: String(i) });
    await w.close();
    const seen: number[] = [];
    let after = 0;
    for (;;) {
      const page = await store.readAfter(id, after, 5);
      if (page.length === 0) break;
      expect(page.length).toBeLessThanOrEqual(5);
      seen.push(...page.map((e) => e.seq));
      after = page.at(-1)!.seq;
    }
    expect(seen).toEqual(Array.from({ length: 23 }, (_, i) => i + 1));
    // Starting in the middle of a stored batch (seqs 5..8 are one item) drops what was seen.
    expect((await store.readAfter(id, 6, 3)).map((e) => e.seq)).toEqual([7, 8, 9]);
    expect(await store.readAfter(id, 23)).toEqual([]);
  });
});
