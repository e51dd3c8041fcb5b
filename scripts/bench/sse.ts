/**
 * SSE fan-out benchmark (DESIGN: 1,000 clients per process, event p99 ≤ 250 ms).
 *
 *   cd portal && npm run bench:sse
 *   env: CLIENTS (1000), EVENTS per phase (300), RATE per second (20),
 *        BENCH_DEBUG=1 (event-loop lag and CPU of both sides every second),
 *        BENCH_PROFILE=<dir> (CPU profile of the server process)
 *
 * Processes: dynalite; ONE server process (this file, role `server`) serving the real route
 * handlers of /api/operations/[id]/events behind a plain node:http adapter (the Next server is
 * not used: it needs a production build, and its own request adapter is not what we measure);
 * a writer process (role `writer`) that stores log entries the way another portal process
 * would; and this process with the 1,000 SSE clients.
 *
 * Phase 1 (local): the server stores each entry, then publishes it to its hub (what the lease
 * holder's LogWriter does). Phase 2 (cross-process): the writer process only stores entries;
 * the server's hub finds them with its catch-up reads. Every entry carries its creation time
 * (`data.t`, ms since the epoch with sub-ms precision); latency = client receive − t.
 *
 * To run against the real portal instead: in `main()`, spawn `server.ts` (DYNAMODB_ENDPOINT,
 * TABLE_PREFIX, ADMIN_TOKEN=TOKEN, SCHEDULER_ENABLED=false) instead of the `server` role, and
 * produce phase 1's local events in that process (e.g. a dev-only route calling
 * `runtime.hub.operationEvents`); `openClient` only needs the port and the token.
 *
 * Prints progress, then one JSON line last.
 */
import { execSync, fork, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import { loadavg } from 'node:os';
import { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { createDocumentClient } from '../../portal/src/lib/store/client';
import { startDynalite } from '../../portal/src/lib/store/embedded-dynalite';
import { ensureTables } from '../../portal/src/lib/store/tables';
import { tableNames, type TableNames } from '../../portal/src/lib/config/env';
import { OperationLogStore } from '../../portal/src/lib/store/operation-logs';
import { OperationStore } from '../../portal/src/lib/store/operations';
import { EventFeed } from '../../portal/src/lib/store/events';
import { EventHub } from '../../portal/src/lib/events/hub';
import { setRuntime, type Runtime } from '../../portal/src/lib/runtime';
import type { OperationEvent } from '../../portal/src/lib/store/types';

const self = fileURLToPath(import.meta.url);
const OPERATION_ID = 'op_benchsse';
const TOKEN = randomBytes(24).toString('base64url');
const preciseNow = () => performance.timeOrigin + performance.now();

interface Shared {
  endpoint: string;
  tables: TableNames;
  token: string;
}

type ServerMessage =
  | { cmd: 'publish'; from: number; count: number; rate: number }
  | { cmd: 'stats' }
  | { cmd: 'exit' };

// ---------------------------------------------------------------- server role

async function serverRole(shared: Shared): Promise<void> {
  const db = createDocumentClient({ endpoint: shared.endpoint, region: 'us-east-1' });
  const logs = new OperationLogStore(db, shared.tables.operationLogs);
  const operations = new OperationStore(db, shared.tables.operations);
  const feed = new EventFeed({ db, table: shared.tables.events });
  const warn = (obj: object, msg?: string) => console.error('[server warn]', msg, obj);
  const hub = new EventHub({ logs, feed, log: { warn } });
  const runtime: Partial<Runtime> = {
    adminToken: shared.token,
    hub,
    eventSources: { logs, feed, operations },
    log: { warn } as unknown as Runtime['log'],
  };
  setRuntime(runtime as Runtime);
  // The real route handlers, as Next would call them.
  const opRoute = await import('../../portal/src/app/api/operations/[id]/events/route');
  const globalRoute = await import('../../portal/src/app/api/events/route');

  const server = http.createServer(async (req, res) => {
    const abort = new AbortController();
    res.on('close', () => abort.abort());
    const headers = new Headers();
    for (const [k, v] of Object.entries(req.headers)) if (typeof v === 'string') headers.set(k, v);
    const request = new Request(`http://${req.headers.host}${req.url}`, {
      headers,
      signal: abort.signal,
    });
    const path = new URL(request.url).pathname;
    const op = /^\/api\/operations\/([^/]+)\/events$/.exec(path);
    const response = op
      ? await opRoute.GET(request, { params: Promise.resolve({ id: decodeURIComponent(op[1]!) }) })
      : path === '/api/events'
        ? await globalRoute.GET(request, { params: Promise.resolve({}) })
        : Response.json({ error: { code: 'not_found', message: 'no route' } }, { status: 404 });
    res.writeHead(response.status, Object.fromEntries(response.headers));
    if (!response.body) return void res.end();
    res.flushHeaders();
    const body = Readable.fromWeb(response.body as import('node:stream/web').ReadableStream);
    body.on('error', () => res.destroy());
    body.pipe(res);
  });
  server.keepAliveTimeout = 0;
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));

  if (process.env.BENCH_DEBUG) {
    const { monitorEventLoopDelay } = await import('node:perf_hooks');
    const h = monitorEventLoopDelay({ resolution: 10 });
    h.enable();
    let cpu = process.cpuUsage();
    setInterval(() => {
      const c = process.cpuUsage(cpu);
      cpu = process.cpuUsage();
      const s = hub.stats();
      console.log(
        `[server] loop p99 ${(h.percentile(99) / 1e6).toFixed(0)} ms, cpu ${((c.user + c.system) / 1e4).toFixed(0)}%, reads ${s.storeReads}, delivered ${s.delivered}`,
      );
      h.reset();
    }, 1000).unref();
  }
  let peakRss = process.memoryUsage().rss;
  setInterval(() => (peakRss = Math.max(peakRss, process.memoryUsage().rss)), 250).unref();

  process.on('message', async (m: ServerMessage) => {
    if (m.cmd === 'publish') {
      // Stored, then published: what the lease holder's LogWriter does (I7).
      const start = performance.now();
      for (let i = 0; i < m.count; i++) {
        const wait = start + (i * 1000) / m.rate - performance.now();
        if (wait > 0) await new Promise((r) => setTimeout(r, wait));
        const e: OperationEvent = {
          seq: m.from + i,
          ts: Date.now(),
          kind: 'log',
          message: 'local',
          data: { t: preciseNow(), path: 'local' },
        };
        await logs.append(OPERATION_ID, [e], Date.now());
        // The hub hands this object to every connection: `tp` (publish time, after the store
        // write) separates fan-out from the write. Not stored; a catch-up read lacks it.
        e.data!.tp = preciseNow();
        hub.operationEvents(OPERATION_ID, [e]);
      }
      process.send!({ done: 'publish' });
    } else if (m.cmd === 'stats') {
      const rss = process.memoryUsage().rss;
      // Heap after a full GC: what the connections really hold (RSS keeps freed pages a while).
      (globalThis as { gc?: () => void }).gc?.();
      const heapMb = process.memoryUsage().heapUsed / 2 ** 20;
      process.send!({
        rssMb: rss / 2 ** 20,
        peakRssMb: Math.max(peakRss, rss) / 2 ** 20,
        heapMb,
        hub: hub.stats(),
      });
    } else if (m.cmd === 'exit') {
      hub.close();
      server.closeAllConnections();
      server.close();
      db.destroy();
      process.exit(0);
    }
  });
  // The bench process owns us: go when it goes, however it ends.
  process.on('disconnect', () => process.exit(0));
  process.send!({ port: (server.address() as { port: number }).port });
}

// ---------------------------------------------------------------- writer role

async function writerRole(
  shared: Shared,
  from: number,
  count: number,
  rate: number,
): Promise<void> {
  const db = createDocumentClient({ endpoint: shared.endpoint, region: 'us-east-1' });
  const logs = new OperationLogStore(db, shared.tables.operationLogs);
  const start = performance.now();
  for (let i = 0; i < count; i++) {
    const wait = start + (i * 1000) / rate - performance.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    const e: OperationEvent = {
      seq: from + i,
      ts: Date.now(),
      kind: 'log',
      message: 'remote',
      data: { t: preciseNow(), path: 'remote' },
    };
    await logs.append(OPERATION_ID, [e], Date.now());
  }
  db.destroy();
  process.send!({ done: 'writer' });
}

// ---------------------------------------------------------------- bench (clients)

interface Client {
  lastSeq: number;
  dup: number;
  gap: number;
  res: http.IncomingMessage;
}

const samples = { local: [] as number[], remote: [] as number[], fanout: [] as number[] };

function openClient(port: number, agent: http.Agent): Promise<Client> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        host: '127.0.0.1',
        port,
        path: `/api/operations/${OPERATION_ID}/events`,
        agent,
        headers: { authorization: `Bearer ${TOKEN}`, accept: 'text/event-stream' },
      },
      (res) => {
        if (res.statusCode !== 200) return reject(new Error(`HTTP ${res.statusCode}`));
        const client: Client = { lastSeq: 0, dup: 0, gap: 0, res };
        res.setEncoding('utf8');
        let buf = '';
        res.on('data', (chunk: string) => {
          const now = preciseNow();
          buf += chunk;
          let end: number;
          while ((end = buf.indexOf('\n\n')) >= 0) {
            const frame = buf.slice(0, end);
            buf = buf.slice(end + 2);
            const dataAt = frame.indexOf('data: ');
            if (dataAt < 0) continue; // comment or retry
            const e = JSON.parse(frame.slice(dataAt + 6)) as OperationEvent;
            if (e.seq <= client.lastSeq) client.dup++;
            else if (e.seq > client.lastSeq + 1) client.gap += e.seq - client.lastSeq - 1;
            client.lastSeq = Math.max(client.lastSeq, e.seq);
            const t = e.data?.t as number | undefined;
            if (t !== undefined)
              (e.data?.path === 'local' ? samples.local : samples.remote).push(now - t);
            const tp = e.data?.tp as number | undefined;
            if (tp !== undefined) samples.fanout.push(now - tp);
          }
        });
        res.once('error', () => {});
        resolve(client);
      },
    );
    req.once('error', reject);
    req.end();
  });
}

function percentile(values: number[], p: number): number {
  if (values.length === 0) return NaN;
  const sorted = Float64Array.from(values).sort();
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}
const round = (x: number) => Math.round(x * 10) / 10;
const max = (values: number[]) => values.reduce((m, v) => (v > m ? v : m), -Infinity);

function request<T>(child: ChildProcess, msg: ServerMessage, key: string): Promise<T> {
  return new Promise((resolve) => {
    const on = (m: Record<string, unknown>) => {
      if (key in m) {
        child.off('message', on);
        resolve(m as T);
      }
    };
    child.on('message', on);
    child.send(msg);
  });
}

const children = new Set<ChildProcess>();
process.on('exit', () => children.forEach((c) => c.kill()));

function spawnRole(args: string[], shared: Shared): ChildProcess {
  const child = fork(self, args, {
    execArgv: [
      '--import',
      'tsx',
      '--expose-gc',
      ...(process.env.BENCH_PROFILE && args[0] === 'server'
        ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_PROFILE}`]
        : []),
    ],
    env: { ...process.env, BENCH_SHARED: JSON.stringify(shared) },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  children.add(child);
  child.once('exit', () => children.delete(child));
  return child;
}

async function main(): Promise<void> {
  const clients = Number(process.env.CLIENTS ?? 1000);
  const events = Number(process.env.EVENTS ?? 300);
  const rate = Number(process.env.RATE ?? 20);
  let fdLimit = NaN;
  try {
    fdLimit = Number(execSync('ulimit -n', { shell: '/bin/sh' }).toString().trim());
  } catch {
    // unknown
  }
  if (fdLimit < clients + 200) {
    console.log(
      `WARNING: open-file limit ${fdLimit} < ${clients + 200}: raise it (ulimit -n 4096) or expect EMFILE`,
    );
  }

  if (process.env.BENCH_DEBUG) {
    const { monitorEventLoopDelay } = await import('node:perf_hooks');
    const h = monitorEventLoopDelay({ resolution: 10 });
    h.enable();
    let cpu = process.cpuUsage();
    setInterval(() => {
      const c = process.cpuUsage(cpu);
      cpu = process.cpuUsage();
      console.log(
        `[clients] loop p99 ${(h.percentile(99) / 1e6).toFixed(0)} ms, cpu ${((c.user + c.system) / 1e4).toFixed(0)}%`,
      );
      h.reset();
    }, 1000).unref();
  }
  const dynalite = await startDynalite();
  const tables = tableNames(`bench${randomBytes(3).toString('hex')}`, 'sse');
  const db = createDocumentClient({ endpoint: dynalite.endpoint, region: 'us-east-1' });
  await ensureTables(db as unknown as DynamoDBClient, tables);
  const now = Date.now();
  await new OperationStore(db, tables.operations).put({
    id: OPERATION_ID,
    interviewId: 'iv_bench',
    type: 'create',
    status: 'running',
    scheduledAt: now,
    attempt: 1,
    version: 1,
    createdAt: now,
  });
  const shared: Shared = { endpoint: dynalite.endpoint, tables, token: TOKEN };
  console.log(`dynalite at ${dynalite.endpoint}`);

  const server = spawnRole(['server'], shared);
  const { port } = await new Promise<{ port: number }>((resolve) =>
    server.on('message', (m: { port?: number }) => m.port && resolve(m as { port: number })),
  );
  console.log(
    `server: one node:http process (pid ${server.pid}) serving the real route handlers on :${port}`,
  );

  const agent = new http.Agent({ keepAlive: true, maxSockets: Infinity });
  const conns: Client[] = [];
  const connectStart = performance.now();
  for (let i = 0; i < clients; i += 50) {
    const batch = Array.from({ length: Math.min(50, clients - i) }, () => openClient(port, agent));
    try {
      conns.push(...(await Promise.all(batch)));
    } catch (e) {
      const err = e as NodeJS.ErrnoException;
      if (err.code === 'EMFILE') console.log('EMFILE: raise the open-file limit (ulimit -n)');
      throw e;
    }
  }
  console.log(
    `${conns.length} SSE clients connected in ${Math.round(performance.now() - connectStart)} ms`,
  );
  const idle = await request<{ rssMb: number; heapMb: number; hub: unknown }>(
    server,
    { cmd: 'stats' },
    'rssMb',
  );
  console.log(
    `server with ${clients} idle clients: RSS ${idle.rssMb.toFixed(0)} MB, heap ${idle.heapMb.toFixed(0)} MB; hub ${JSON.stringify(idle.hub)}`,
  );

  console.log(
    `phase 1: ${events} local publishes at ${rate}/s (stored, then published to the hub)`,
  );
  await request(server, { cmd: 'publish', from: 1, count: events, rate }, 'done');
  await waitFor(() => conns.every((c) => c.lastSeq >= events), 5000);
  console.log(
    `  local: p50 ${round(percentile(samples.local, 50))} ms, p99 ${round(percentile(samples.local, 99))} ms, ` +
      `max ${round(max(samples.local))} ms over ${samples.local.length} deliveries (created → received, incl. the store write)`,
  );
  console.log(
    `  fan-out only: p50 ${round(percentile(samples.fanout, 50))} ms, p99 ${round(percentile(samples.fanout, 99))} ms ` +
      `(hub publish → received)`,
  );

  console.log(
    `phase 2: ${events} entries stored by another process at ${rate}/s (hub catch-up reads)`,
  );
  const writer = spawnRole(['writer', String(events + 1), String(events), String(rate)], shared);
  await new Promise((r) => writer.on('message', r));
  await waitFor(() => conns.every((c) => c.lastSeq >= 2 * events), 5000);
  console.log(
    `  cross-process: p50 ${round(percentile(samples.remote, 50))} ms, p99 ${round(percentile(samples.remote, 99))} ms, ` +
      `max ${round(max(samples.remote))} ms over ${samples.remote.length} deliveries`,
  );

  const stats = await request<{
    rssMb: number;
    peakRssMb: number;
    heapMb: number;
    hub: { storeReads: number };
  }>(server, { cmd: 'stats' }, 'rssMb');
  const expected = clients * 2 * events;
  const received = samples.local.length + samples.remote.length;
  const dup = conns.reduce((s, c) => s + c.dup, 0);
  const gap =
    conns.reduce((s, c) => s + c.gap, 0) + conns.reduce((s, c) => s + (2 * events - c.lastSeq), 0);
  console.log(
    `server now: RSS ${stats.rssMb.toFixed(0)} MB (peak ${stats.peakRssMb.toFixed(0)} MB), heap ${stats.heapMb.toFixed(0)} MB; hub ${JSON.stringify(stats.hub)}`,
  );
  console.log(`deliveries ${received}/${expected}, lost ${gap}, duplicated ${dup}`);

  for (const c of conns) c.res.destroy();
  agent.destroy();
  server.send({ cmd: 'exit' });
  await new Promise((r) => server.once('exit', r));
  db.destroy();
  await dynalite.stop();

  console.log(
    JSON.stringify({
      bench: 'sse',
      clients,
      server: 'node:http + real route handlers (not Next)',
      events_per_phase: events,
      rate_per_s: rate,
      event_p50_ms: round(percentile(samples.local, 50)),
      event_p99_ms: round(percentile(samples.local, 99)),
      event_max_ms: round(max(samples.local)),
      fanout_p50_ms: round(percentile(samples.fanout, 50)),
      fanout_p99_ms: round(percentile(samples.fanout, 99)),
      cross_process_p50_ms: round(percentile(samples.remote, 50)),
      cross_process_p99_ms: round(percentile(samples.remote, 99)),
      cross_process_max_ms: round(max(samples.remote)),
      rss_mb: Math.round(stats.peakRssMb),
      rss_idle_clients_mb: Math.round(idle.rssMb),
      heap_idle_clients_mb: Math.round(idle.heapMb),
      heap_after_mb: Math.round(stats.heapMb),
      deliveries: received,
      lost: gap,
      duplicated: dup,
      store_reads: stats.hub.storeReads,
      // Other work on the machine moves the tail: read p99 together with the load.
      load_avg_1m: Math.round(loadavg()[0]! * 10) / 10,
    }),
  );
}

async function waitFor(pred: () => boolean, ms: number): Promise<void> {
  const deadline = Date.now() + ms;
  while (!pred() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
}

const [role, ...args] = process.argv.slice(2);
const shared = process.env.BENCH_SHARED
  ? (JSON.parse(process.env.BENCH_SHARED) as Shared)
  : undefined;
// No top-level await: scripts/ is not an ES module package, so tsx compiles this file to CJS.
const run =
  role === 'server'
    ? serverRole(shared!)
    : role === 'writer'
      ? writerRole(shared!, Number(args[0]), Number(args[1]), Number(args[2]))
      : main();
run.catch((e) => {
  console.error(e);
  process.exit(1);
});
