// The worker thread behind WorkerDocumentClient (worker-client.ts): runs DynamoDB document
// commands with its own SDK client, so the SDK's CPU (marshalling, signing, parsing: ~1 ms per
// call) is spent beside the main event loop. Messages: {id, command, input} in (command: a
// @aws-sdk/lib-dynamodb command class name), {id, output} or {id, error: {name, message}} out.
import { parentPort, workerData } from 'node:worker_threads';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import * as lib from '@aws-sdk/lib-dynamodb';

const { clientConfig, documentOptions, commands } = workerData;
const db = lib.DynamoDBDocumentClient.from(new DynamoDBClient(clientConfig), documentOptions);
const allowed = new Set(commands);

parentPort.on('message', (m) => {
  const Command = allowed.has(m.command) ? lib[m.command] : undefined;
  if (!Command) {
    parentPort.postMessage({
      id: m.id,
      error: { name: 'UnsupportedCommand', message: `Not a document command: ${m.command}` },
    });
    return;
  }
  db.send(new Command(m.input)).then(
    (output) => parentPort.postMessage({ id: m.id, output }),
    (e) =>
      parentPort.postMessage({
        id: m.id,
        error: { name: String(e?.name ?? 'Error'), message: String(e?.message ?? e) },
      }),
  );
});
