import { existsSync, readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { list as tarList } from 'tar';
import { groupMembers, probeHealth } from '@/lib/drivers/local/process';
import { layoutOf } from '@/lib/drivers/local/layout';
import { USER_DATA_SUBDIR } from '@/lib/drivers/local/workspace';
import { ctx, tempDataDir, testDriver } from './helpers';
import type { LocalDriver } from '@/lib/drivers/local/driver';

async function archivedPaths(file: string): Promise<string[]> {
  const paths: string[] = [];
  await tarList({ file, onReadEntry: (e) => void paths.push(e.path) });
  return paths;
}

// One instance through its whole life, with and without the sandbox (each step depends on the last).
for (const sandbox of ['none', 'bwrap'] as const) {
  describe.skipIf(sandbox === 'bwrap' && !existsSync('/usr/bin/bwrap'))(
    `local driver (sandbox ${sandbox})`,
    () => {
      const data = tempDataDir();
      let driver: LocalDriver;
      const id = `drv-${sandbox}`;
      let pid = 0;
      const spec = {
        interviewId: id,
        challengeId: 'py-log-aggregation',
        deadlineAt: Date.now() + 3_600_000,
      };

      beforeAll(() => {
        process.env.OPENAI_API_KEY = 'sk-provider-key-must-not-leak';
        driver = testDriver(data.dir, { sandbox });
      });
      afterAll(async () => {
        await driver.destroy(id, ctx()).catch(() => {});
        data.cleanup();
      });

      it('create starts code-server that answers /healthz, with the challenge files in its workspace', async () => {
        const info = await driver.create(
          { ...spec, options: { gatewayUrl: 'http://127.0.0.1:1/ai', gatewayToken: 'gw-token-1' } },
          ctx(),
        );
        expect(info.state).toBe('ready');
        expect(info.details?.sandbox).toBe(sandbox);
        pid = info.details!.pid as number;
        const layout = layoutOf(data.dir, id);
        expect(await probeHealth(layout.socket)).toBe(true);
        expect(existsSync(path.join(layout.workspace, 'log_stats.py'))).toBe(true);
        expect(existsSync(path.join(layout.workspace, 'challenge.json'))).toBe(false);
        const settings = JSON.parse(
          readFileSync(path.join(layout.home, USER_DATA_SUBDIR, 'User/settings.json'), 'utf8'),
        );
        expect(settings['chat.disableAIFeatures']).toBe(true);
      });

      it('code-server itself gets the gateway token and a sane environment, never the provider key (I4)', async () => {
        const read = (p: number, f: string) => {
          try {
            return readFileSync(`/proc/${p}/${f}`, 'utf8');
          } catch {
            return '';
          }
        };
        // The code-server process, not bwrap around it: the sandbox must pass the environment in.
        const ide = (await groupMembers(pid)).filter((p) => {
          const argv = read(p, 'cmdline').split('\0');
          return !argv[0]!.endsWith('bwrap') && argv.includes('--extensions-dir');
        });
        const env = ide.map((p) =>
          Object.fromEntries(
            read(p, 'environ')
              .split('\0')
              .filter(Boolean)
              .map((kv) => {
                const i = kv.indexOf('=');
                return [kv.slice(0, i), kv.slice(i + 1)];
              }),
          ),
        );
        const codeServer = env.find((e) => e.INTERVIEW_CONFIG_FILE);
        expect(
          codeServer,
          `code-server processes: ${JSON.stringify(env.map((e) => Object.keys(e)))}`,
        ).toBeDefined();
        expect(codeServer).toMatchObject({
          INTERVIEW_GATEWAY_TOKEN: 'gw-token-1',
          USER: 'candidate',
        });
        expect(codeServer!.PATH).toContain('/usr/bin');
        expect(codeServer!.HOME).toBeTruthy();
        for (const p of await groupMembers(pid))
          expect(read(p, 'environ')).not.toContain('sk-provider-key');
      });

      it('create again adopts the running instance', async () => {
        const info = await driver.create(spec, ctx());
        expect(info.details).toMatchObject({ adopted: true, pid });
        expect((await driver.list()).map((i) => i.interviewId)).toEqual([id]);
        expect((await driver.status(id))?.state).toBe('ready');
      });

      it('destroy archives the workspace without node_modules, then stops the whole group', async () => {
        const layout = layoutOf(data.dir, id);
        writeFileSync(path.join(layout.workspace, 'solution.txt'), 'my answer\n');
        mkdirSync(path.join(layout.workspace, 'node_modules', 'dep'), { recursive: true });
        writeFileSync(path.join(layout.workspace, 'node_modules', 'dep', 'index.js'), '');
        expect((await groupMembers(pid)).length).toBeGreaterThan(1);

        const result = await driver.destroy(id, ctx());
        expect(result.archive).toMatchObject({ key: `archives/${id}/workspace.tar.gz` });
        const paths = await archivedPaths(
          path.join(data.dir, 'storage', 'archives', id, 'workspace.tar.gz'),
        );
        expect(paths).toContain('./solution.txt');
        expect(paths).toContain('./log_stats.py');
        expect(paths.some((p) => p.includes('node_modules'))).toBe(false);
        expect(await groupMembers(pid)).toEqual([]);
        expect(await driver.status(id)).toBeNull();
        expect(await driver.list()).toEqual([]);
      });

      it('destroy of a destroyed instance succeeds and reports the same archive', async () => {
        const again = await driver.destroy(id, ctx());
        expect(again.archive).toMatchObject({ key: `archives/${id}/workspace.tar.gz` });
        expect(await driver.destroy('never-created', ctx())).toEqual({});
      });
    },
  );
}
