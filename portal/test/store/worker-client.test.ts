import type { Worker } from 'node:worker_threads';
import { GetCommand, PutCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isConditionFailure } from '@/lib/store/conditions';
import { MessageStore, messageKey, type MessageItem } from '@/lib/store/messages';
import { WorkerDocumentClient } from '@/lib/store/worker-client';
import { startTestDb, type TestDb } from '../support/dynalite';

const item = (interviewId: string, i: number, content = `message ${i}`): MessageItem => ({
  interviewId,
  sk: messageKey(1_700_000_000_000 + i, `req${i}`, 'r'),
  requestId: `req${i}`,
  at: 1_700_000_000_000 + i,
  role: 'assistant',
  content,
});
const workerOf = (c: WorkerDocumentClient) => (c as unknown as { worker?: Worker }).worker;

describe('WorkerDocumentClient (DynamoDB calls off the event loop)', () => {
  let t: TestDb;
  let table: string;
  beforeAll(async () => {
    t = await startTestDb();
    table = t.tables.aiMessages;
  });
  afterAll(async () => {
    await t?.stop();
  });

  it('batch writes, queries and reads run in the worker and return what the SDK returns', async () => {
    const remote = new WorkerDocumentClient({ endpoint: t.endpoint, region: 'us-east-1' }, t.db);
    const store = new MessageStore(remote.asDocumentClient(), table);
    const items = Array.from({ length: 60 }, (_, i) => item('iv-worker', i, 'é'.repeat(i * 100)));
    await store.putBatch(items);
    expect(workerOf(remote), 'the worker did the calls').toBeDefined();
    const page = await store.list('iv-worker', { limit: 100 });
    expect(page.items.map((i) => i.content)).toEqual(items.map((i) => i.content));
    const got = await remote.send(
      new GetCommand({ TableName: table, Key: { interviewId: 'iv-worker', sk: items[3]!.sk } }),
    );
    expect(got.Item).toMatchObject({ content: items[3]!.content });
    await remote.close();
  });

  it('a failed condition keeps its name (isConditionFailure), other errors their message', async () => {
    const remote = new WorkerDocumentClient({ endpoint: t.endpoint, region: 'us-east-1' }, t.db);
    const it1 = item('iv-cond', 1);
    await remote.send(new PutCommand({ TableName: table, Item: it1 }));
    const again = remote.send(
      new PutCommand({
        TableName: table,
        Item: it1,
        ConditionExpression: 'attribute_not_exists(sk)',
      }),
    );
    await expect(again).rejects.toSatisfy(isConditionFailure);
    await expect(
      remote.send(
        new GetCommand({ TableName: 'no-such-table', Key: { interviewId: 'x', sk: 'y' } }),
      ),
    ).rejects.toThrow(/not found|non-existent/i);
    await remote.close();
  });

  it('a worker that dies: pending batch puts are repeated in-process, a pending conditional write fails, later calls work', async () => {
    const warnings: string[] = [];
    const remote = new WorkerDocumentClient({ endpoint: t.endpoint, region: 'us-east-1' }, t.db, {
      warn: (_o: object, m: string) => void warnings.push(m),
    });
    const store = new MessageStore(remote.asDocumentClient(), table);
    await remote.send(new PutCommand({ TableName: table, Item: { ...item('iv-dies', 0), n: 0 } }));
    const batch = store.putBatch(Array.from({ length: 30 }, (_, i) => item('iv-dies', i + 1)));
    const update = remote.send(
      new UpdateCommand({
        TableName: table,
        Key: { interviewId: 'iv-dies', sk: item('iv-dies', 0).sk },
        UpdateExpression: 'SET n = n + :one',
        ExpressionAttributeValues: { ':one': 1 },
      }),
    );
    const outcome = update.then(
      () => 'applied',
      (e: unknown) => e,
    );
    await workerOf(remote)!.terminate(); // while both are in flight
    await batch;
    expect(await outcome).toMatchObject({ name: 'WorkerLost' });
    await store.putBatch([item('iv-dies', 99)]);
    expect((await store.list('iv-dies', { limit: 100 })).items).toHaveLength(32);
    expect(warnings.join()).toMatch(/in-process/);
    await remote.close();
  });
});
