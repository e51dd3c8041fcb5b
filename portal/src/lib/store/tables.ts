import {
  CreateTableCommand,
  DescribeTableCommand,
  ResourceInUseException,
  ResourceNotFoundException,
  type CreateTableCommandInput,
  type DynamoDBClient,
} from '@aws-sdk/client-dynamodb';
import type { TableNames } from '../config/env';

type KeyType = 'S' | 'N';
interface Gsi {
  name: string;
  hash: [string, KeyType];
  range?: [string, KeyType];
}
interface TableDef {
  hash: [string, KeyType];
  range?: [string, KeyType];
  gsis?: Gsi[];
}

/** Index names, referenced by the store modules that query them. */
export const INDEX = {
  interviewsByCreator: 'createdBy-createdAt',
  interviewsByStatus: 'status-deadlineAt',
  opsByStatusScheduledAt: 'status-scheduledAt',
  opsByStatusAutoDestroyAt: 'status-autoDestroyAt',
  opsByInterviewType: 'interviewId-type',
  /** Open budget slices by lease expiry (sparse: only slice items carry `sliceOpen`); the sweeper's query. */
  aiOpenSlices: 'sliceOpen-leaseUntil',
} as const;

/** Key schema of every table. Add a table here and in TableNames. */
export function tableDefs(names: TableNames): Record<string, TableDef> {
  return {
    [names.interviews]: {
      hash: ['id', 'S'],
      gsis: [
        { name: INDEX.interviewsByCreator, hash: ['createdBy', 'S'], range: ['createdAt', 'N'] },
        { name: INDEX.interviewsByStatus, hash: ['status', 'S'], range: ['deadlineAt', 'N'] },
      ],
    },
    [names.operations]: {
      hash: ['id', 'S'],
      gsis: [
        { name: INDEX.opsByStatusScheduledAt, hash: ['status', 'S'], range: ['scheduledAt', 'N'] },
        {
          name: INDEX.opsByStatusAutoDestroyAt,
          hash: ['status', 'S'],
          range: ['autoDestroyAt', 'N'],
        },
        { name: INDEX.opsByInterviewType, hash: ['interviewId', 'S'], range: ['type', 'S'] },
      ],
    },
    [names.operationLogs]: { hash: ['operationId', 'S'], range: ['seq', 'N'] },
    [names.events]: { hash: ['bucket', 'S'], range: ['id', 'S'] },
    // AI gateway (key shapes in store/ledger.ts, gateway-tokens.ts, messages.ts, settings.ts).
    [names.aiLedger]: {
      hash: ['interviewId', 'S'],
      range: ['sk', 'S'],
      gsis: [{ name: INDEX.aiOpenSlices, hash: ['sliceOpen', 'S'], range: ['leaseUntil', 'N'] }],
    },
    [names.aiTokens]: { hash: ['interviewId', 'S'], range: ['tokenHash', 'S'] },
    [names.aiMessages]: { hash: ['interviewId', 'S'], range: ['sk', 'S'] },
    [names.settings]: { hash: ['key', 'S'] },
    [names.candidateLinks]: { hash: ['interviewId', 'S'] },
    [names.audit]: { hash: ['subject', 'S'], range: ['id', 'S'] },
  };
}

function createInput(name: string, def: TableDef): CreateTableCommandInput {
  const attrs = new Map<string, KeyType>();
  const keys = (hash: [string, KeyType], range?: [string, KeyType]) => {
    attrs.set(hash[0], hash[1]);
    if (range) attrs.set(range[0], range[1]);
    return [
      { AttributeName: hash[0], KeyType: 'HASH' as const },
      ...(range ? [{ AttributeName: range[0], KeyType: 'RANGE' as const }] : []),
    ];
  };
  const KeySchema = keys(def.hash, def.range);
  const GlobalSecondaryIndexes = def.gsis?.map((g) => ({
    IndexName: g.name,
    KeySchema: keys(g.hash, g.range),
    Projection: { ProjectionType: 'ALL' as const },
  }));
  return {
    TableName: name,
    BillingMode: 'PAY_PER_REQUEST',
    KeySchema,
    AttributeDefinitions: [...attrs].map(([AttributeName, AttributeType]) => ({
      AttributeName,
      AttributeType,
    })),
    ...(GlobalSecondaryIndexes?.length && { GlobalSecondaryIndexes }),
  };
}

/** Creates missing tables and waits until all are ACTIVE. Safe to run from several processes. */
export async function ensureTables(client: DynamoDBClient, names: TableNames): Promise<void> {
  await Promise.all(
    Object.entries(tableDefs(names)).map(async ([name, def]) => {
      try {
        await client.send(new CreateTableCommand(createInput(name, def)));
      } catch (e) {
        if (!(e instanceof ResourceInUseException)) throw e;
      }
      for (let i = 0; ; i++) {
        try {
          const d = await client.send(new DescribeTableCommand({ TableName: name }));
          if (d.Table?.TableStatus === 'ACTIVE') return;
        } catch (e) {
          if (!(e instanceof ResourceNotFoundException)) throw e;
        }
        if (i > 600) throw new Error(`table ${name} did not become ACTIVE`);
        await new Promise((r) => setTimeout(r, 100));
      }
    }),
  );
}
