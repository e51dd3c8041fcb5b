/**
 * The portal process: Next's request handler, the /i/<interviewId>/ reverse proxy (HTTP and
 * WebSocket upgrades — route handlers can't take upgrades), the AI gateway's hot endpoints and
 * the scheduler, in one process.
 * Run with `npm start` from the repository root (which builds what is missing first).
 */
import http from 'node:http';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import next from 'next';
import { loadConfigOrExit } from './src/lib/config/env';
import { bootstrap } from './src/lib/bootstrap';

async function main() {
  const config = loadConfigOrExit(process.env);

  const runtime = await bootstrap(config);
  const log = runtime.log;
  const dir = path.dirname(fileURLToPath(import.meta.url));
  const app = next({ dev: false, dir, hostname: config.HOST, port: config.PORT });
  await app.prepare();
  const handle = app.getRequestHandler();
  const upgrade = app.getUpgradeHandler();

  const server = http.createServer((req, res) => {
    if (runtime.instanceProxy?.handles(req)) return runtime.instanceProxy.web(req, res);
    // Chat completions and models are served before Next: a framework round trip per request
    // would be most of the gateway's latency budget (lib/gateway/README.md, bench:gateway).
    if (runtime.gateway?.serveHttp(req, res)) return;
    void handle(req, res);
  });
  server.on('upgrade', (req, socket, head) => {
    if (runtime.instanceProxy?.handles(req))
      return runtime.instanceProxy.upgrade(req, socket, head);
    void upgrade(req, socket, head);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(config.PORT, config.HOST, () => resolve());
  });
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : config.PORT;
  await runtime.start(port);
  log.info({ port, url: config.publicUrl }, 'portal listening');
  // A plain line for people (and for test harnesses waiting on readiness).
  console.log(`Portal ready on http://${config.HOST}:${port}`);

  let stopping = false;
  const shutdown = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'shutting down');
    const force = setTimeout(() => process.exit(1), 15_000);
    force.unref();
    server.close();
    server.closeAllConnections();
    await runtime.close();
    clearTimeout(force);
    process.exit(0);
  };
  process.on('SIGINT', () => void shutdown('SIGINT'));
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
}

main().catch((e) => {
  console.error('portal failed to start:', e);
  process.exit(1);
});
