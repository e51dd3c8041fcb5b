import { createDocumentClient } from '@/lib/store/client';
import { ensureTables } from '@/lib/store/tables';
import { startDynalite, type EmbeddedDynalite } from '@/lib/store/embedded-dynalite';
import { tableNames, type TableNames } from '@/lib/config/env';
import { randomBytes } from 'node:crypto';
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';

export interface TestDb {
  dynalite: EmbeddedDynalite;
  endpoint: string;
  db: DynamoDBDocumentClient;
  tables: TableNames;
  prefix: string;
  stop(): Promise<void>;
}

/** A fresh in-memory dynalite with all tables created under a unique prefix. */
export async function startTestDb(): Promise<TestDb> {
  const dynalite = await startDynalite();
  const prefix = `t${randomBytes(4).toString('hex')}`;
  const tables = tableNames(prefix, 'test');
  const db = createDocumentClient({ endpoint: dynalite.endpoint, region: 'us-east-1' });
  await ensureTables(db as never, tables);
  return {
    dynalite,
    endpoint: dynalite.endpoint,
    db,
    tables,
    prefix,
    async stop() {
      db.destroy();
      await dynalite.stop();
    },
  };
}
