import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findStrays, Reconciler } from '@/lib/drivers/local/reconciler';
import { probeHealth } from '@/lib/drivers/local/process';
import { layoutOf } from '@/lib/drivers/local/layout';
import type { LocalDriver } from '@/lib/drivers/local/driver';
import { ctx, tempDataDir, testDriver } from './helpers';

const silent = { info() {}, warn() {}, error() {} };

describe('findStrays', () => {
  const inst = (interviewId: string) => ({ interviewId, state: 'ready' as const });
  it('keeps instances of live interviews before deadline + grace', () => {
    expect(findStrays([inst('a')], [{ id: 'a', deadlineAt: 1000 }], 1500, 600)).toEqual([]);
  });
  it('destroys instances without a live interview, and past deadline + grace', () => {
    expect(findStrays([inst('a'), inst('b')], [{ id: 'a', deadlineAt: 1000 }], 1601, 600)).toEqual([
      { interviewId: 'a', reason: 'past deadline' },
      { interviewId: 'b', reason: 'no live interview' },
    ]);
  });
});

describe('after the portal is killed (SIGKILL)', () => {
  const data = tempDataDir();
  let driver: LocalDriver;
  const pids: Record<string, number> = {};

  beforeAll(async () => {
    const portalDir = path.resolve(import.meta.dirname, '../..');
    const child = spawn(
      process.execPath,
      [
        '--import',
        'tsx',
        'test/local/fixtures/portal-stand-in.ts',
        data.dir,
        'live-one',
        'stray-one',
      ],
      {
        cwd: portalDir,
        stdio: ['ignore', 'pipe', 'inherit'],
      },
    );
    await new Promise<void>((resolve, reject) => {
      createInterface({ input: child.stdout! }).on('line', (l) => l === 'READY' && resolve());
      child.once('exit', (code) => reject(new Error(`stand-in portal exited with ${code}`)));
    });
    child.kill('SIGKILL');
    await new Promise((r) => child.once('exit', r));
    driver = testDriver(data.dir);
  });
  afterAll(async () => {
    for (const id of ['live-one', 'stray-one']) await driver.destroy(id, ctx()).catch(() => {});
    data.cleanup();
  });

  it('its instances keep running and a new driver adopts them', async () => {
    for (const id of ['live-one', 'stray-one']) {
      expect(await probeHealth(layoutOf(data.dir, id).socket)).toBe(true);
      const info = await driver.create(
        { interviewId: id, challengeId: 'py-log-aggregation', deadlineAt: Date.now() + 3_600_000 },
        ctx(),
      );
      expect(info.details?.adopted).toBe(true);
      pids[id] = info.details!.pid as number;
    }
  });

  it("the reconciler keeps the live interview's instance and reaps the stray (archived first)", async () => {
    const reconciler = new Reconciler({
      driver,
      liveInterviews: async () => [{ id: 'live-one', deadlineAt: Date.now() + 3_600_000 }],
      graceMs: 60_000,
      intervalMs: 60_000,
      log: silent,
    });
    const stats = await reconciler.run(Date.now());
    expect(stats).toMatchObject({
      running: 2,
      kept: 1,
      destroyed: [{ interviewId: 'stray-one', reason: 'no live interview' }],
      failed: [],
    });
    expect((await driver.list()).map((i) => i.interviewId)).toEqual(['live-one']);
    expect((await driver.status('live-one'))?.details?.pid).toBe(pids['live-one']);
    expect(await driver.destroy('stray-one', ctx())).toMatchObject({
      archive: { key: 'archives/stray-one/workspace.tar.gz' },
    });
  });
});
