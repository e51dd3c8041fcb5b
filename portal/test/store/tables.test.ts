import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DescribeTableCommand, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { ensureTables, INDEX } from '@/lib/store/tables';
import { startTestDb, type TestDb } from '../support/dynalite';

let t: TestDb;
beforeAll(async () => {
  t = await startTestDb();
});
afterAll(() => t.stop());

describe('ensureTables', () => {
  it('creates the operations table with its three GSIs', async () => {
    const d = await t.db.send(new DescribeTableCommand({ TableName: t.tables.operations }));
    const names = d.Table?.GlobalSecondaryIndexes?.map((g) => g.IndexName).sort();
    expect(names).toEqual(
      [
        INDEX.opsByInterviewType,
        INDEX.opsByStatusAutoDestroyAt,
        INDEX.opsByStatusScheduledAt,
      ].sort(),
    );
  });

  it('is idempotent when run again', async () => {
    await expect(
      ensureTables(t.db as unknown as DynamoDBClient, t.tables),
    ).resolves.toBeUndefined();
  });
});
