/**
 * `npm run bench:density` (slow): starts instances one after another; for each, one Chromium tab
 * loads the workbench through the proxy until the explorer shows the challenge, then closes (the
 * extension host stays up after a disconnect, so the instance keeps its connected memory). Stops at
 * DENSITY_MAX instances or when their summed PSS reaches MEMORY_LIMIT_GB; reports instances per
 * 24 GiB = (24 GiB − HOST_OVERHEAD_GB for OS and portal) ÷ mean PSS per connected instance.
 * Env: DENSITY_MAX (10), MEMORY_LIMIT_GB (8), HOST_OVERHEAD_GB (2), SANDBOX (auto).
 */
import http from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { chromium } from 'playwright-core';
import { createAdminSession } from '../../portal/src/lib/auth/admin';
import { ChallengeCatalog } from '../../portal/src/lib/challenges/catalog';
import { challengesDir } from '../../portal/src/lib/config/paths';
import { createLocalDriver } from '../../portal/src/lib/drivers/local/driver';
import { createInstanceProxy } from '../../portal/src/lib/proxy/instance-proxy';
import { FsStorage } from '../../portal/src/lib/storage/fs-storage';
import { groupMemoryMb } from './instance-stats';

const max = Number(process.env.DENSITY_MAX ?? 10);
const limitGb = Number(process.env.MEMORY_LIMIT_GB ?? 8);
const overheadGb = Number(process.env.HOST_OVERHEAD_GB ?? 2);
const secret = 'bench-secret-0123456789abcdefghij';

async function main() {
  const dataDir = mkdtempSync('/tmp/bd-');
  const home = mkdtempSync(path.join(tmpdir(), 'chromium-'));
  const ctx = { signal: new AbortController().signal, log: () => {} };
  const driver = createLocalDriver({
    dataDir,
    challenges: new ChallengeCatalog(challengesDir),
    storage: new FsStorage(path.join(dataDir, 'storage')),
    sandbox: (process.env.SANDBOX ?? 'auto') as 'auto',
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
  server.on('upgrade', (req, socket, head) => proxy.upgrade(req, socket, head));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const browser = await chromium.launch({
    executablePath: '/usr/bin/chromium',
    env: {
      HOME: home,
      XDG_CONFIG_HOME: path.join(home, '.config'),
      XDG_CACHE_HOME: path.join(home, '.cache'),
      TMPDIR: home,
      PATH: '/usr/bin:/bin',
    },
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
  const context = await browser.newContext();
  await context.addCookies([
    { name: 'admin_session', value: createAdminSession(secret).value, url },
  ]);

  const pgids: number[] = [];
  let totalPss = 0;
  try {
    for (let i = 0; i < max && totalPss < limitGb * 1024; i++) {
      const id = `dens-${i}`;
      const info = await driver.create(
        { interviewId: id, challengeId: 'py-log-aggregation', deadlineAt: Date.now() + 3_600_000 },
        ctx,
      );
      pgids.push(info.details!.pid as number);
      const page = await context.newPage();
      const t0 = performance.now();
      await page.goto(`${url}/i/${id}/`);
      await page.getByRole('treeitem', { name: /log_stats\.py/ }).waitFor({ timeout: 90_000 });
      const loadMs = performance.now() - t0;
      await page.close();
      await new Promise((r) => setTimeout(r, 2000));
      const pss = await Promise.all(pgids.map((g) => groupMemoryMb(g, 'pss')));
      totalPss = pss.reduce((a, b) => a + b, 0);
      console.log(
        `instance ${i + 1}: workbench ${loadMs.toFixed(0)} ms, this ${pss.at(-1)!.toFixed(0)} MiB PSS, all ${totalPss.toFixed(0)} MiB`,
      );
    }
  } finally {
    await browser.close().catch(() => {});
    for (let i = 0; i < pgids.length; i++) await driver.destroy(`dens-${i}`, ctx).catch(() => {});
    server.close();
    rmSync(dataDir, { recursive: true, force: true });
    rmSync(home, { recursive: true, force: true });
  }
  const perInstance = totalPss / pgids.length;
  console.log(
    JSON.stringify({
      bench: 'density',
      instances: pgids.length,
      memory_limit_gb: limitGb,
      pss_per_instance_mb: Math.round(perInstance),
      instances_per_24gb: Math.floor(((24 - overheadGb) * 1024) / perInstance),
    }),
  );
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
