import { BatchWriteCommand } from '@aws-sdk/lib-dynamodb';

/** Items per BatchWriteItem (DynamoDB's limit). */
export const BATCH_ITEMS = 25;

/**
 * Puts items with BatchWriteItem, 25 at a time, retrying what DynamoDB leaves unprocessed with
 * backoff (20 ms doubling, up to 1 s; gives up after 8 retries). Plain JS so the transcript's
 * write worker (batch-write-worker.mjs) runs the same code as the in-process store.
 * @param {import('@aws-sdk/lib-dynamodb').DynamoDBDocumentClient} db
 * @param {string} table
 * @param {Record<string, unknown>[]} items
 * @returns {Promise<void>}
 */
export async function putAll(db, table, items) {
  for (let i = 0; i < items.length; i += BATCH_ITEMS) {
    let requests = items.slice(i, i + BATCH_ITEMS).map((Item) => ({ PutRequest: { Item } }));
    for (let attempt = 0; requests.length > 0; attempt++) {
      if (attempt > 0) await new Promise((r) => setTimeout(r, Math.min(1000, 20 * 2 ** attempt)));
      if (attempt > 8) throw new Error(`${requests.length} items left unprocessed in ${table}`);
      const r = await db.send(new BatchWriteCommand({ RequestItems: { [table]: requests } }));
      requests = r.UnprocessedItems?.[table] ?? [];
    }
  }
}
