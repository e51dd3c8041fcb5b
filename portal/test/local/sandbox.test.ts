import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { layoutOf } from '@/lib/drivers/local/layout';
import { repoRoot } from '@/lib/config/paths';
import type { LocalDriver } from '@/lib/drivers/local/driver';
import { ctx, inside, tempDataDir, testDriver } from './helpers';

const run = promisify(execFile);

describe.skipIf(!existsSync('/usr/bin/bwrap') || !existsSync('/usr/bin/nsenter'))(
  'bubblewrap sandbox',
  () => {
    const data = tempDataDir();
    let driver: LocalDriver;
    let pid = 0;
    const id = 'sbx';
    let listener: net.Server;
    let port = 0;

    beforeAll(async () => {
      // Another instance's files, which this one must not see.
      mkdirSync(path.join(data.dir, 'instances', 'other', 'workspace'), { recursive: true });
      writeFileSync(
        path.join(data.dir, 'instances', 'other', 'workspace', 'secret.txt'),
        'other candidate',
      );
      // bash closes its end at once: the reset is expected, not an error of the test.
      listener = net
        .createServer((s) => {
          s.on('error', () => {});
          s.end('hello');
        })
        .listen(0, '127.0.0.1');
      await new Promise((r) => listener.once('listening', r));
      port = (listener.address() as net.AddressInfo).port;
      driver = testDriver(data.dir, { sandbox: 'bwrap', network: 'none' });
      const info = await driver.create(
        { interviewId: id, challengeId: 'py-log-aggregation', deadlineAt: Date.now() + 3_600_000 },
        ctx(),
      );
      pid = info.details!.pid as number;
    });
    afterAll(async () => {
      listener?.close();
      await driver?.destroy(id, ctx()).catch(() => {});
      data.cleanup();
    });

    it("the host's home, the repo, DATA_DIR and other instances are invisible", async () => {
      for (const p of [
        '/root',
        repoRoot,
        data.dir,
        path.join(data.dir, 'instances', 'other'),
        '/etc/shadow',
      ]) {
        expect((await inside(pid, `test -e '${p}'`)).code, p).not.toBe(0);
      }
      expect(
        (await inside(pid, 'grep -r "other candidate" / --include=secret.txt -s -l; true')).out,
      ).toBe('');
    });

    it('the terminal works: a shell as the candidate, python, and writes to the workspace', async () => {
      const r = await inside(
        pid,
        'whoami && pwd && python3 -c "print(6*7)" && echo from-inside > note.txt',
      );
      expect(r.code).toBe(0);
      expect(r.out.split('\n')).toEqual(['candidate', '/workspace', '42', '']);
      expect(readFileSync(path.join(layoutOf(data.dir, id).workspace, 'note.txt'), 'utf8')).toBe(
        'from-inside\n',
      );
    });

    it('network policy none: the instance cannot reach services on the host', async () => {
      expect((await inside(pid, `exec 3<>/dev/tcp/127.0.0.1/${port}`)).code).not.toBe(0);
      expect(
        await run('bash', ['-c', `exec 3<>/dev/tcp/127.0.0.1/${port}`]).then(
          () => 0,
          () => 1,
        ),
      ).toBe(0);
    });
  },
);
