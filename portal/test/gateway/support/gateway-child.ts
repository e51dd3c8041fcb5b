/**
 * A second portal process for the multi-process tests: a Gateway on the same tables, served over
 * HTTP through its node-native entry, as portal/server.ts serves it. Argument: JSON { endpoint, tables, holderId, env }. Prints {"port":N}.
 * Closes gracefully (slices returned) when stdin ends; tests also SIGKILL it to play a crash.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import pino from 'pino';
import { parseConfig, type TableNames } from '../../../src/lib/config/env';
import { gatewayConfig } from '../../../src/lib/gateway/config';
import { createGateway } from '../../../src/lib/gateway/gateway';
import { createDocumentClient } from '../../../src/lib/store/client';

const args = JSON.parse(process.argv[2]!) as {
  endpoint: string;
  tables: TableNames;
  holderId: string;
  env: Record<string, string>;
};
const dynamo = { endpoint: args.endpoint, region: 'us-east-1' };
const db = createDocumentClient(dynamo);
const gw = await createGateway({
  db,
  dynamo, // as the portal runs it: transcript batches from a worker thread
  tables: args.tables,
  config: gatewayConfig(parseConfig(args.env)),
  log: pino({ level: 'warn' }, pino.destination(2)),
  settingsKey: null,
  holderId: args.holderId,
  background: false,
});
const server = createServer((req, res) => {
  if (gw.serveHttp(req, res)) return;
  if (req.url === '/__flush') void gw.flush().then(() => res.end('ok'));
  else res.writeHead(404).end();
});
await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
process.stdout.write(JSON.stringify({ port: (server.address() as AddressInfo).port }) + '\n');
process.stdin.resume();
process.stdin.on('end', async () => {
  server.close();
  await gw.close({ graceMs: 5000 });
  db.destroy();
  process.exit(0);
});
