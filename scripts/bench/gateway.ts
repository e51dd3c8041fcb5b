/**
 * AI gateway overhead benchmark (DESIGN: time-to-first-token overhead p50 ≤ 2 ms, p99 ≤ 10 ms
 * versus calling the same upstream directly; budget overshoot 0).
 *
 *   cd portal && npm run bench:gateway
 *   env: REQUESTS=2000 (direct + gateway) CONCURRENCY=50 TOKENS=32 TOKEN_DELAY_MS=10 BARE_PROXY=1
 *        TIGHT_EVERY=10 (every Nth interview's budget runs out early in the run; a huge N turns that off)
 *
 * Processes: dynalite; the OpenAI-compatible test upstream (portal/test/support/openai-upstream.ts,
 * its own process); ONE gateway process (this file, role `gateway`) serving `Gateway.serveHttp`
 * — the node-native entry portal/server.ts hands the hot endpoints to before Next — from a plain
 * node:http server, exactly as the portal does (Next is not involved on this path); and this
 * process, the client, with CONCURRENCY workers. With BARE_PROXY (default on), a bare node:http
 * pass-through proxy process (the floor DESIGN.md cites) is measured in the same interleaving as
 * a reference; its requests are not counted in `requests`.
 *
 * GATEWAY_NODE_ARGS passes node flags to the gateway process, e.g. to profile it:
 *   GATEWAY_NODE_ARGS="--cpu-prof --cpu-prof-dir=/tmp/prof" npm run bench:gateway
 *
 * Each worker alternates direct → gateway → direct … (interleaved, so drift cancels), the same
 * streamed request each time (`stream_options.include_usage`), on keep-alive connections.
 * TTFT = first chunk with non-empty `delta.content`; total = end of the stream. Each worker
 * has its own interview (its own gateway token and budget); a few interviews get budgets that
 * run out mid-run, so refusals and clamping happen under load too (refused requests are left
 * out of the latency figures). After the run the gateway returns its slices and every ledger
 * is checked: overshoot = Σ max(0, charged − budget), and the ledger must equal the charges
 * stored with the transcript.
 *
 * Prints progress, then one JSON line last.
 */
import { fork, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import pino from 'pino';
import { parseConfig, tableNames, type TableNames } from '../../portal/src/lib/config/env';
import { gatewayConfig } from '../../portal/src/lib/gateway/config';
import { createGateway } from '../../portal/src/lib/gateway/gateway';
import { createDocumentClient } from '../../portal/src/lib/store/client';
import { startDynalite } from '../../portal/src/lib/store/embedded-dynalite';
import { LedgerStore } from '../../portal/src/lib/store/ledger';
import { MessageStore } from '../../portal/src/lib/store/messages';
import { ensureTables } from '../../portal/src/lib/store/tables';

const self = fileURLToPath(import.meta.url);
const portalDir = path.resolve(path.dirname(self), '..', '..', 'portal');
const REQUESTS = Number(process.env.REQUESTS ?? 2000);
const CONCURRENCY = Number(process.env.CONCURRENCY ?? 50);
// A stream like a fast hosted model's (~100 tokens/s): 50 concurrent streams then mean what
// they would in production. TOKEN_DELAY_MS=1 turns the upstream into a stress test instead
// (~170 gateway requests/s through one process on a shared 2-core box).
const TOKENS = Number(process.env.TOKENS ?? 32);
const TOKEN_DELAY_MS = Number(process.env.TOKEN_DELAY_MS ?? 10);
/** Also measure a bare pass-through proxy (the floor) in the same interleaving: BARE_PROXY=0 to skip. */
const BARE_PROXY = process.env.BARE_PROXY !== '0';
const WARMUP = 4; // requests per worker before measuring
const TIGHT_EVERY = Number(process.env.TIGHT_EVERY ?? 10); // every 10th interview (with ≥ 10 workers) gets a budget that runs out
const isTight = (worker: number) => CONCURRENCY >= TIGHT_EVERY && worker % TIGHT_EVERY === 0;

interface Shared {
  endpoint: string;
  tables: TableNames;
  upstreamUrl: string;
  apiKey: string;
}

// ---------------------------------------------------------------- gateway role

async function gatewayRole(shared: Shared): Promise<void> {
  const dynamo = { endpoint: shared.endpoint, region: 'us-east-1' };
  const db = createDocumentClient(dynamo);
  const config = parseConfig({
    OPENAI_BASE_URL: shared.upstreamUrl,
    OPENAI_API_KEY: shared.apiKey,
    AI_MAX_COMPLETION_TOKENS: '64',
    AI_RATE_LIMIT_PER_MINUTE: '100000',
    AI_MAX_CONCURRENT_PER_INTERVIEW: '100',
  });
  const gw = await createGateway({
    db,
    dynamo, // as the portal runs it: transcript batches from a worker thread
    tables: shared.tables,
    config: gatewayConfig(config),
    log: pino({ level: 'warn' }, pino.destination(2)),
    settingsKey: null,
    holderId: 'bench-gateway',
  });
  await gw.ready();
  const server = http.createServer((req, res) => {
    if (!gw.serveHttp(req, res)) res.writeHead(404).end();
  });
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  let cpuAtStart = process.cpuUsage();
  process.on(
    'message',
    async (m: {
      cmd: string;
      interviews?: { id: string; deadlineAt: number; ai: { tokenBudget: number } }[];
    }) => {
      if (m.cmd === 'issue') {
        cpuAtStart = process.cpuUsage();
        const tokens = [];
        for (const i of m.interviews!) tokens.push((await gw.issueToken(i)).token);
        process.send!({ cmd: 'tokens', tokens });
      } else if (m.cmd === 'close') {
        const c = process.cpuUsage(cpuAtStart);
        const cpuMs = (c.user + c.system) / 1000;
        server.close();
        await gw.close({ graceMs: 5000 });
        process.send!({ cmd: 'closed', cpuMs });
        setTimeout(() => process.exit(0), 50);
      }
    },
  );
  process.send!({ cmd: 'ready', port: (server.address() as { port: number }).port });
}

// ---------------------------------------------------------------- bare proxy role (reference)

/** The floor DESIGN.md cites: a bare node:http pass-through to the same upstream, no parsing, no metering. */
async function proxyRole(upstreamUrl: string): Promise<void> {
  const target = new URL(upstreamUrl);
  const agent = new http.Agent({ keepAlive: true, maxSockets: 256 });
  const server = http.createServer((req, res) => {
    res.socket?.setNoDelay(true);
    const up = http.request(
      {
        host: target.hostname,
        port: target.port,
        path: `/v1${req.url!.replace(/^\/api\/ai\/v1/, '')}`,
        method: req.method,
        headers: req.headers,
        agent,
      },
      (r) => {
        res.writeHead(r.statusCode ?? 502, r.headers);
        r.pipe(res);
      },
    );
    up.on('error', () => res.destroy());
    req.pipe(up);
  });
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  let cpuAtStart = process.cpuUsage();
  process.on('message', (m: { cmd: string }) => {
    if (m.cmd === 'start') cpuAtStart = process.cpuUsage();
    else if (m.cmd === 'cpu') {
      const c = process.cpuUsage(cpuAtStart);
      process.send!({ cmd: 'cpu', cpuMs: (c.user + c.system) / 1000 });
    }
  });
  process.send!({ cmd: 'ready', port: (server.address() as { port: number }).port });
}

// ---------------------------------------------------------------- client

interface Sample {
  kind: 'direct' | 'gateway' | 'proxy';
  status: number;
  ttft: number;
  total: number;
  /** A gateway request of an interview whose budget runs out (its reservations need database writes first). */
  tight?: boolean;
}

const agent = new http.Agent({ keepAlive: true, maxSockets: CONCURRENCY * 2 });
const errors: string[] = [];
/** Child processes, killed if the run fails. */
const children: ChildProcess[] = [];
const CONTENT = /"delta":\{[^}]*"content":"[^"]/;

function stream(url: URL, token: string, body: string, kind: Sample['kind']): Promise<Sample> {
  return new Promise((resolve) => {
    const t0 = performance.now();
    let ttft = -1;
    let seen = '';
    const req = http.request(
      url,
      {
        method: 'POST',
        agent,
        headers: {
          'content-type': 'application/json',
          authorization: `Bearer ${token}`,
          'content-length': Buffer.byteLength(body),
        },
      },
      (res) => {
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          if (ttft < 0) {
            seen += chunk;
            if (CONTENT.test(seen)) ttft = performance.now() - t0;
          }
        });
        res.on('end', () =>
          resolve({ kind, status: res.statusCode ?? 0, ttft, total: performance.now() - t0 }),
        );
        res.on('error', fail);
      },
    );
    // A broken connection is a failed sample (status 0, counted and reported), not the end of the run.
    function fail(e: Error) {
      errors.push(`${kind}: ${e.message}`);
      resolve({ kind, status: 0, ttft: -1, total: performance.now() - t0 });
    }
    req.on('error', fail);
    req.end(body);
  });
}

const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]! : NaN;
};
const r2 = (x: number) => Math.round(x * 100) / 100;

async function main(): Promise<void> {
  const dynalite = await startDynalite();
  const tables = tableNames(`bench${randomBytes(3).toString('hex')}`, 'bench');
  const db = createDocumentClient({ endpoint: dynalite.endpoint, region: 'us-east-1' });
  await ensureTables(db as unknown as DynamoDBClient, tables);

  const apiKey = `sk-bench-${randomBytes(16).toString('hex')}`;
  const upstream: ChildProcess = spawn(
    process.execPath,
    [
      '--import',
      'tsx',
      path.join(portalDir, 'test', 'support', 'openai-upstream.ts'),
      '--key',
      apiKey,
      '--no-records',
      '--defaults',
      JSON.stringify({ tokens: TOKENS, tokenDelayMs: TOKEN_DELAY_MS }),
    ],
    { stdio: ['pipe', 'pipe', 'inherit'], cwd: portalDir },
  );
  children.push(upstream);
  const upLine = await new Promise<string>((resolve) =>
    createInterface({ input: upstream.stdout! }).once('line', resolve),
  );
  const upstreamUrl = (JSON.parse(upLine) as { url: string }).url;

  const shared: Shared = { endpoint: dynalite.endpoint, tables, upstreamUrl, apiKey };
  // GATEWAY_NODE_ARGS: extra node flags for the gateway process, e.g. `--cpu-prof --cpu-prof-dir=/tmp/prof`.
  const gwArgs = (process.env.GATEWAY_NODE_ARGS ?? '').split(' ').filter(Boolean);
  const gwProc = fork(self, ['gateway', JSON.stringify(shared)], {
    execArgv: ['--import', 'tsx', ...gwArgs],
    cwd: portalDir,
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  children.push(gwProc);
  const next = (cmd: string) =>
    new Promise<Record<string, unknown>>((resolve) => {
      const on = (m: Record<string, unknown>) => {
        if (m.cmd === cmd) {
          gwProc.off('message', on);
          resolve(m);
        }
      };
      gwProc.on('message', on);
    });
  const { port } = (await next('ready')) as { port: number };
  let proxyPort = 0;
  let proxyProc: ChildProcess | undefined;
  if (BARE_PROXY) {
    proxyProc = fork(self, ['proxy', upstreamUrl], {
      execArgv: [
        '--import',
        'tsx',
        ...(process.env.PROXY_NODE_ARGS ?? '').split(' ').filter(Boolean),
      ],
      cwd: portalDir,
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    children.push(proxyProc);
    proxyPort = await new Promise<number>((r) =>
      proxyProc!.once('message', (m: { port: number }) => r(m.port)),
    );
    proxyProc.send({ cmd: 'start' });
  }

  const perWorker = Math.ceil(REQUESTS / CONCURRENCY);
  const interviews = Array.from({ length: CONCURRENCY }, (_, i) => ({
    id: `iv_bench_${i}`,
    deadlineAt: Date.now() + 3_600_000,
    // Tight budgets (~400 tokens, ~6 answers) run out a third of the way in; the rest never do.
    ai: { tokenBudget: isTight(i) ? 40 * (perWorker / 4) : 1_000_000 },
  }));
  gwProc.send({ cmd: 'issue', interviews });
  const { tokens } = (await next('tokens')) as { tokens: string[] };

  const direct = new URL(`${upstreamUrl}/chat/completions`);
  const gateway = new URL(`http://127.0.0.1:${port}/api/ai/v1/chat/completions`);
  const proxy = new URL(`http://127.0.0.1:${proxyPort}/api/ai/v1/chat/completions`);
  const body = JSON.stringify({
    model: 'gpt-4o-mini',
    messages: [
      { role: 'system', content: 'You are a helpful coding assistant.' },
      { role: 'user', content: 'How do I reverse a linked list in TypeScript? Keep it short.' },
    ],
    stream: true,
    stream_options: { include_usage: true },
    max_completion_tokens: 64,
  });

  const samples: Sample[] = [];
  const proxySamples: Sample[] = [];
  let done = 0;
  const started = performance.now();
  await Promise.all(
    tokens.map(async (token, w) => {
      for (let i = 0; i < WARMUP + perWorker; i++) {
        // Interleave, starting on alternating sides per worker.
        const viaGateway = (i + w) % 2 === 1;
        const s = await stream(
          viaGateway ? gateway : direct,
          viaGateway ? token : apiKey,
          body,
          viaGateway ? 'gateway' : 'direct',
        );
        if (i >= WARMUP) {
          if (viaGateway) s.tight = isTight(w);
          samples.push(s);
          if (++done % 500 === 0)
            console.log(
              `  ${done} requests, ${((performance.now() - started) / 1000).toFixed(1)} s`,
            );
        }
        // The reference proxy after every direct request: same conditions, not counted in `requests`.
        if (BARE_PROXY && !viaGateway) {
          const p = await stream(proxy, apiKey, body, 'proxy');
          if (i >= WARMUP) proxySamples.push(p);
        }
      }
    }),
  );
  const wall = (performance.now() - started) / 1000;

  gwProc.send({ cmd: 'close' });
  const { cpuMs } = (await next('closed')) as { cpuMs: number };
  let proxyCpuMs = NaN;
  if (proxyProc) {
    proxyProc.send({ cmd: 'cpu' });
    proxyCpuMs = await new Promise<number>((r) =>
      proxyProc!.once('message', (m: { cpuMs: number }) => r(m.cpuMs)),
    );
    proxyProc.kill();
  }

  // Budgets: charged ≤ budget, and the ledger equals the charges stored with the transcript.
  const ledger = new LedgerStore(db, tables.aiLedger);
  const messages = new MessageStore(db, tables.aiMessages);
  let overshoot = 0;
  let mismatch = 0;
  for (const iv of interviews) {
    const l = (await ledger.get(iv.id))!;
    const used = l.usedIn + l.usedOut;
    overshoot += Math.max(0, used - iv.ai.tokenBudget);
    let charged = 0;
    let cursor: string | undefined;
    do {
      const page = await messages.list(iv.id, { limit: 500, ...(cursor && { cursor }) });
      for (const m of page.items)
        if (m.role === 'assistant') charged += (m.tokensIn ?? 0) + (m.tokensOut ?? 0);
      cursor = page.cursor;
    } while (cursor);
    overshoot += Math.max(0, charged - iv.ai.tokenBudget);
    mismatch += Math.abs(charged - used) + (l.remaining + used === iv.ai.tokenBudget ? 0 : 1);
  }

  const ok = (k: Sample['kind']) =>
    samples.filter((s) => s.kind === k && s.status === 200 && s.ttft >= 0);
  const d = ok('direct');
  const g = ok('gateway');
  const refused = samples.filter(
    (s) => s.kind === 'gateway' && s.status !== 200 && s.status !== 0,
  ).length;
  const stats = (xs: Sample[], f: (s: Sample) => number) => ({
    p50: r2(pct(xs.map(f), 50)),
    p90: r2(pct(xs.map(f), 90)),
    p99: r2(pct(xs.map(f), 99)),
  });
  const dT = stats(d, (s) => s.ttft);
  const gT = stats(g, (s) => s.ttft);
  const dTotal = stats(d, (s) => s.total);
  const gTotal = stats(g, (s) => s.total);
  // The same overhead for the interviews with ample budgets (every reservation from a held slice, in
  // memory) and, apart, the tight ones' answers near the end of their budget (each reservation needs
  // conditional database writes before the call: DESIGN.md I5).
  const gAmple = stats(
    g.filter((s) => !s.tight),
    (s) => s.ttft,
  );
  const gTight = g.filter((s) => s.tight);
  const tT = stats(gTight, (s) => s.ttft);
  const pOk = proxySamples.filter((s) => s.status === 200 && s.ttft >= 0);
  const pT = stats(pOk, (s) => s.ttft);
  console.log(
    `wall ${wall.toFixed(1)} s, ${samples.length} requests (${d.length} direct, ${g.length} gateway ok, ${refused} gateway refused: budget)`,
  );
  if (errors.length > 0)
    console.log(
      `${errors.length} requests failed (connection errors), e.g. ${errors.slice(0, 3).join('; ')}`,
    );
  console.log(`ttft   direct  ${JSON.stringify(dT)}  gateway ${JSON.stringify(gT)}`);
  console.log(`total  direct  ${JSON.stringify(dTotal)}  gateway ${JSON.stringify(gTotal)}`);
  console.log(
    `ttft   gateway, ample budgets ${JSON.stringify(gAmple)}; tight budgets (${gTight.length} answers) ${JSON.stringify(tT)}`,
  );
  if (BARE_PROXY)
    console.log(
      `ttft   bare proxy (reference) ${JSON.stringify(pT)}, overhead p50 ${r2(pT.p50 - dT.p50)} ms, p99 ${r2(pT.p99 - dT.p99)} ms`,
    );
  console.log(
    `gateway process CPU ${Math.round(cpuMs)} ms for ${g.length + refused} requests (${r2(cpuMs / Math.max(1, g.length + refused))} ms each, all threads)`,
  );
  if (BARE_PROXY)
    console.log(
      `bare proxy process CPU ${Math.round(proxyCpuMs)} ms for ${proxySamples.length} requests (${r2(proxyCpuMs / Math.max(1, proxySamples.length))} ms each, all threads)`,
    );
  console.log(`ledger: overshoot ${overshoot} tokens, ledger-vs-transcript mismatch ${mismatch}`);

  upstream.stdin!.end();
  db.destroy();
  await dynalite.stop();
  agent.destroy();
  console.log(
    JSON.stringify({
      bench: 'gateway',
      requests: samples.length,
      concurrency: CONCURRENCY,
      ttft_overhead_p50_ms: r2(gT.p50 - dT.p50),
      ttft_overhead_p99_ms: r2(gT.p99 - dT.p99),
      ratio_p50: r2(gT.p50 / dT.p50),
      overshoot_tokens: overshoot,
      ttft_direct_p50_ms: dT.p50,
      ttft_gateway_p50_ms: gT.p50,
      total_overhead_p50_ms: r2(gTotal.p50 - dTotal.p50),
      total_ratio_p50: r2(gTotal.p50 / dTotal.p50),
      refused,
      failed: errors.length,
      ledger_mismatch: mismatch,
      ttft_overhead_p99_ample_budget_ms: r2(gAmple.p99 - dT.p99),
      tight_budget_answers: gTight.length,
      ttft_overhead_p50_tight_budget_ms: r2(tT.p50 - dT.p50),
      gateway_cpu_ms_per_request: r2(cpuMs / Math.max(1, g.length + refused)),
      ...(BARE_PROXY && {
        bare_proxy_overhead_p50_ms: r2(pT.p50 - dT.p50),
        bare_proxy_overhead_p99_ms: r2(pT.p99 - dT.p99),
        bare_proxy_cpu_ms_per_request: r2(proxyCpuMs / Math.max(1, proxySamples.length)),
      }),
      tokens_per_stream: TOKENS,
      token_delay_ms: TOKEN_DELAY_MS,
    }),
  );
  process.exit(0);
}

const role =
  process.argv[2] === 'gateway'
    ? gatewayRole(JSON.parse(process.argv[3]!) as Shared)
    : process.argv[2] === 'proxy'
      ? proxyRole(process.argv[3]!)
      : main();
role.catch((e: unknown) => {
  console.error(e);
  for (const c of children) c.kill();
  process.exit(1);
});
