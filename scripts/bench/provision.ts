/**
 * `npm run bench:provision`: N creates of real code-server instances (sequential), each timed from
 * the driver call until /healthz answers THROUGH the portal's proxy; then destroy (archive + stop)
 * times and the idle memory of one instance. Last line: one JSON object.
 * Then the same number of creates with a warm pool of one (each waits until the pool has refilled,
 * as a create an interview's lead time after the previous one would).
 * Env: BENCH_CREATES (default 10), SANDBOX (auto|bwrap|none).
 */
import http from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { ChallengeCatalog } from '../../portal/src/lib/challenges/catalog';
import { challengesDir } from '../../portal/src/lib/config/paths';
import { createLocalDriver } from '../../portal/src/lib/drivers/local/driver';
import { createInstanceProxy } from '../../portal/src/lib/proxy/instance-proxy';
import { FsStorage } from '../../portal/src/lib/storage/fs-storage';
import { groupMemoryMb, percentile } from './instance-stats';

const creates = Number(process.env.BENCH_CREATES ?? 10);
const sandbox = (process.env.SANDBOX ?? 'auto') as 'auto' | 'bwrap' | 'none';
const secret = 'bench-secret-0123456789abcdefghij';
const dataDir = mkdtempSync('/tmp/bp-');
const ctx = { signal: new AbortController().signal, log: () => {} };

async function main() {
  let proxyUrl = '';
  const driver = createLocalDriver({
    dataDir,
    challenges: new ChallengeCatalog(challengesDir),
    storage: new FsStorage(path.join(dataDir, 'storage')),
    sandbox,
    warmPoolSize: 1,
    checkProxy: async (id) => (await fetch(`${proxyUrl}/i/${id}/healthz`)).ok,
  });
  const proxy = createInstanceProxy({
    resolveSocket: (id) => driver.socketOf(id),
    secret,
    adminToken: secret,
    audit: () => {},
  });
  const server = http.createServer((req, res) =>
    proxy.handles(req) ? proxy.web(req, res) : res.writeHead(404).end(),
  );
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  proxyUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  const ready: number[] = [];
  const destroy: number[] = [];
  const warmReady: number[] = [];
  let idleRss = 0;
  try {
    for (let i = 0; i < creates; i++) {
      const id = `bench-${i}`;
      const t0 = performance.now();
      const info = await driver.create(
        { interviewId: id, challengeId: 'js-http-api-design', deadlineAt: Date.now() + 3_600_000 },
        ctx,
      );
      ready.push(performance.now() - t0);
      if (i === 0) {
        await new Promise((r) => setTimeout(r, 3000)); // let startup settle before measuring idle memory
        idleRss = await groupMemoryMb(info.details!.pid as number, 'rss');
      }
      const t1 = performance.now();
      await driver.destroy(id, ctx);
      destroy.push(performance.now() - t1);
      console.log(
        `create ${i + 1}/${creates}: ready ${ready.at(-1)!.toFixed(0)} ms, destroy ${destroy.at(-1)!.toFixed(0)} ms`,
      );
    }
    const pool = (await driver.startWarmPool())!;
    for (let i = 0; i < creates; i++) {
      await pool.settled();
      const id = `bench-warm-${i}`;
      const t0 = performance.now();
      const info = await driver.create(
        { interviewId: id, challengeId: 'js-http-api-design', deadlineAt: Date.now() + 3_600_000 },
        ctx,
      );
      warmReady.push(performance.now() - t0);
      if (!info.details?.warm) throw new Error('a warm-pool create started cold');
      await driver.destroy(id, ctx);
      console.log(`warm create ${i + 1}/${creates}: ready ${warmReady.at(-1)!.toFixed(0)} ms`);
    }
  } finally {
    await driver.stopWarmPool();
    server.close();
    rmSync(dataDir, { recursive: true, force: true });
  }
  console.log(
    JSON.stringify({
      bench: 'provision',
      creates,
      sandbox: driver.sandboxKind,
      ready_p50_ms: percentile(ready, 50),
      ready_p95_ms: percentile(ready, 95),
      warm_ready_p50_ms: percentile(warmReady, 50),
      warm_ready_p95_ms: percentile(warmReady, 95),
      destroy_p50_ms: percentile(destroy, 50),
      idle_instance_rss_mb: Math.round(idleRss),
    }),
  );
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
