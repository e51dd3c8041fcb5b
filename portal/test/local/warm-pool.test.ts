import { existsSync, lstatSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { list as tarList } from 'tar';
import { isAlive, probeHealth } from '@/lib/drivers/local/process';
import { layoutOf, poolRoot } from '@/lib/drivers/local/layout';
import type { LocalDriver } from '@/lib/drivers/local/driver';
import { ctx, tempDataDir, testDriver } from './helpers';

const poolEntries = (dataDir: string) => {
  const dir = poolRoot(dataDir);
  return existsSync(dir)
    ? readdirSync(dir).map((n) => ({
        name: n,
        link: lstatSync(path.join(dir, n)).isSymbolicLink(),
      }))
    : [];
};
const warmPids = (dataDir: string) =>
  poolEntries(dataDir)
    .filter((e) => !e.link)
    .map(
      (e) =>
        JSON.parse(readFileSync(path.join(poolRoot(dataDir), e.name, 'warm.json'), 'utf8'))
          .pid as number,
    );

// A claimed slot keeps its process; with the sandbox its paths are bind mounts, without it they
// resolve through the symlink left at the slot's old path. Both must serve the interview.
for (const sandbox of ['none', 'bwrap'] as const) {
  describe.skipIf(sandbox === 'bwrap' && !existsSync('/usr/bin/bwrap'))(
    `warm pool (sandbox ${sandbox})`,
    () => {
      const data = tempDataDir();
      let driver: LocalDriver;
      const id = `warm-${sandbox}`;
      let warmPid = 0;

      beforeAll(async () => {
        driver = testDriver(data.dir, { sandbox, warmPoolSize: 1 });
        const pool = await driver.startWarmPool();
        await pool!.settled();
      });
      afterAll(async () => {
        await driver.destroy(id, ctx()).catch(() => {});
        await driver.stopWarmPool();
        data.cleanup();
      });

      it('keeps one empty instance running outside DATA_DIR/instances (invisible to list and the reconciler)', async () => {
        const pids = warmPids(data.dir);
        expect(pids).toHaveLength(1);
        warmPid = pids[0]!;
        expect(await driver.list()).toEqual([]);
      });

      it('a create claims it: same process, challenge files in the workspace, interview file written', async () => {
        const lines: string[] = [];
        const info = await driver.create(
          {
            interviewId: id,
            challengeId: 'py-log-aggregation',
            deadlineAt: Date.now() + 3_600_000,
            options: { gatewayUrl: 'http://127.0.0.1:1/api/ai/v1', gatewayToken: 'gw-1' },
          },
          ctx(lines),
        );
        expect(info.state).toBe('ready');
        expect(info.details).toMatchObject({ warm: true, pid: warmPid });
        expect(lines.join('\n')).toMatch(/claiming warm instance w-[0-9a-f]+/);
        const layout = layoutOf(data.dir, id);
        expect(existsSync(path.join(layout.workspace, 'log_stats.py'))).toBe(true);
        expect(existsSync(path.join(layout.workspace, 'challenge.json'))).toBe(false);
        expect(JSON.parse(readFileSync(layout.interviewFile, 'utf8'))).toEqual({
          interviewId: id,
          gatewayUrl: 'http://127.0.0.1:1/api/ai/v1',
          gatewayToken: 'gw-1',
        });
        expect(await probeHealth(layout.socket)).toBe(true);
        expect((await driver.list()).map((i) => i.interviewId)).toEqual([id]);
        expect((await driver.status(id))?.state).toBe('ready');
      });

      it('the pool refills behind the claim', async () => {
        await new Promise((r) => setTimeout(r, 10)); // let the refill start
        // settled() waits for the refill in progress.
        const pool = await driver.startWarmPool();
        await pool!.settled();
        expect(pool!.available).toBe(1);
        expect(warmPids(data.dir).filter((p) => p !== warmPid)).toHaveLength(1);
      });

      it('destroy archives the claimed workspace, stops it and removes the link at its old path', async () => {
        const result = await driver.destroy(id, ctx());
        expect(result.archive).toMatchObject({ key: `archives/${id}/workspace.tar.gz` });
        const paths: string[] = [];
        await tarList({
          file: path.join(data.dir, 'storage', 'archives', id, 'workspace.tar.gz'),
          onReadEntry: (e) => void paths.push(e.path),
        });
        expect(paths).toContain('./log_stats.py');
        expect(await isAlive(warmPid, data.dir)).toBe(false);
        expect(poolEntries(data.dir).filter((e) => e.link)).toEqual([]);
      });

      it('a graceful stop stops the unclaimed instances', async () => {
        const pids = warmPids(data.dir);
        await driver.stopWarmPool();
        for (const pid of pids) expect(await isAlive(pid, data.dir)).toBe(false);
        expect(poolEntries(data.dir)).toEqual([]);
      });
    },
  );
}

describe('warm pool after a crash', () => {
  const data = tempDataDir();
  afterAll(() => data.cleanup());

  it('the next start stops the slots a killed portal left and starts fresh ones', async () => {
    const first = testDriver(data.dir, { sandbox: 'auto', warmPoolSize: 1 });
    await (await first.startWarmPool())!.settled();
    const [orphan] = warmPids(data.dir);
    // No stopWarmPool: the portal "crashed".
    const second = testDriver(data.dir, { sandbox: 'auto', warmPoolSize: 1 });
    await (await second.startWarmPool())!.settled();
    expect(await isAlive(orphan!, data.dir)).toBe(false);
    const now = warmPids(data.dir);
    expect(now).toHaveLength(1);
    expect(now[0]).not.toBe(orphan);
    await second.stopAllWarm();
    expect(await isAlive(now[0]!, data.dir)).toBe(false);
    expect(poolEntries(data.dir)).toEqual([]);
  }, 60_000);
});
