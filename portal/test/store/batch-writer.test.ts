import type { Worker } from 'node:worker_threads';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WorkerBatchWriter } from '@/lib/store/batch-writer';
import { MessageStore, messageKey, type MessageItem } from '@/lib/store/messages';
import { startTestDb, type TestDb } from '../support/dynalite';

const item = (interviewId: string, i: number, content = `message ${i}`): MessageItem => ({
  interviewId,
  sk: messageKey(1_700_000_000_000 + i, `req${i}`, 'r'),
  requestId: `req${i}`,
  at: 1_700_000_000_000 + i,
  role: 'assistant',
  content,
});

describe('WorkerBatchWriter (transcript writes off the event loop)', () => {
  let t: TestDb;
  beforeAll(async () => {
    t = await startTestDb();
  });
  afterAll(async () => {
    await t?.stop();
  });

  it('writes every item through the worker, more than one BatchWriteItem of them, and they read back', async () => {
    const writer = new WorkerBatchWriter({ endpoint: t.endpoint, region: 'us-east-1' }, t.db);
    const store = new MessageStore(t.db, t.tables.aiMessages, writer);
    const items = Array.from({ length: 60 }, (_, i) => item('iv-worker', i, 'é'.repeat(i * 100)));
    await store.putBatch(items);
    expect(
      (writer as unknown as { worker?: Worker }).worker,
      'the worker did the writing',
    ).toBeDefined();
    const page = await store.list('iv-worker', { limit: 100 });
    expect(page.items.map((i) => i.content)).toEqual(items.map((i) => i.content));
    await writer.close();
  });

  it('reports a write the database refuses (unknown table) as an error', async () => {
    const writer = new WorkerBatchWriter({ endpoint: t.endpoint, region: 'us-east-1' }, t.db);
    await expect(
      writer.put('no-such-table', [item('iv-x', 1) as unknown as Record<string, unknown>]),
    ).rejects.toThrow(/not found|ResourceNotFound|non-existent/i);
    await writer.close();
  });

  it('a worker that dies loses nothing: its pending batches and later ones are written in-process', async () => {
    const warnings: string[] = [];
    const writer = new WorkerBatchWriter({ endpoint: t.endpoint, region: 'us-east-1' }, t.db, {
      warn: (_o, m) => void warnings.push(m),
    });
    const store = new MessageStore(t.db, t.tables.aiMessages, writer);
    const first = store.putBatch(Array.from({ length: 30 }, (_, i) => item('iv-dies', i)));
    // Kill it while the batch is in flight.
    await (writer as unknown as { worker: Worker }).worker.terminate();
    await first;
    await store.putBatch([item('iv-dies', 99)]);
    const page = await store.list('iv-dies', { limit: 100 });
    expect(page.items).toHaveLength(31);
    expect(warnings.join()).toMatch(/in-process/);
    await writer.close();
  });
});
