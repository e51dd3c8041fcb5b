// A worker thread that writes batches for the main thread (see batch-writer.ts): the SDK's
// marshalling, signing and response parsing (~1 ms of CPU per call) then run beside the event
// loop instead of on it. Messages: {id, table, items} in, {id, error?} out.
import { parentPort, workerData } from 'node:worker_threads';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { putAll } from './batch-write.mjs';

const { clientConfig, documentOptions } = workerData;
const db = DynamoDBDocumentClient.from(new DynamoDBClient(clientConfig), documentOptions);

parentPort.on('message', (m) => {
  putAll(db, m.table, m.items).then(
    () => parentPort.postMessage({ id: m.id }),
    (e) => parentPort.postMessage({ id: m.id, error: String(e?.message ?? e) }),
  );
});
