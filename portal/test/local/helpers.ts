import { mkdtempSync, rmSync } from 'node:fs';
import path from 'node:path';
import { ChallengeCatalog } from '@/lib/challenges/catalog';
import { challengesDir } from '@/lib/config/paths';
import { FsStorage } from '@/lib/storage/fs-storage';
import {
  createLocalDriver,
  type LocalDriver,
  type LocalDriverDeps,
} from '@/lib/drivers/local/driver';
import type { DriverContext } from '@/lib/drivers/driver';
import http from 'node:http';
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { promisify } from 'node:util';
import { groupMembers } from '@/lib/drivers/local/process';
import type { AddressInfo } from 'node:net';
import { isApiError } from '@/lib/http/errors';
import type { CandidateLinks } from '@/lib/auth/candidate-links';
import type { LocalInstanceProxy } from '@/lib/proxy/instance-proxy';
import type { InterviewRecord } from '@/lib/store/types';

/** A short DATA_DIR (unix socket paths are limited to 107 bytes). */
export function tempDataDir(): { dir: string; cleanup(): void } {
  const dir = mkdtempSync('/tmp/li-');
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

export function ctx(lines: string[] = []): DriverContext {
  return {
    signal: new AbortController().signal,
    log: (level, m) => void lines.push(`${level}: ${m}`),
  };
}

export function testDriver(dataDir: string, extra: Partial<LocalDriverDeps> = {}): LocalDriver {
  return createLocalDriver({
    dataDir,
    challenges: new ChallengeCatalog(challengesDir),
    storage: new FsStorage(path.join(dataDir, 'storage')),
    readyTimeoutMs: 20_000,
    ...extra,
  });
}

export function interviewRecord(
  id: string,
  deadlineAt: number,
  status: InterviewRecord['status'] = 'ready',
): InterviewRecord {
  const now = Date.now();
  return {
    id,
    candidateName: 'C',
    challengeId: 'py-log-aggregation',
    scheduledAt: now,
    durationMinutes: 60,
    deadlineAt,
    status,
    ai: { tokenBudget: 1000 },
    createdBy: 'admin',
    createdAt: now,
    updatedAt: now,
    createOperationId: 'op',
    version: 1,
  };
}

/** A stand-in for the portal: the candidate link route and the proxy on one node:http server. */
export function startProxyServer(links: CandidateLinks, proxy: LocalInstanceProxy) {
  const server = http.createServer((req, res) => {
    if (proxy.handles(req)) return proxy.web(req, res);
    const m = /^\/c\/([^/?]+)$/.exec(req.url ?? '');
    if (!m) return void res.writeHead(404).end();
    links.redeem(m[1]!).then(
      (r) => res.writeHead(303, { location: r.location, 'set-cookie': r.cookie }).end(),
      (e) =>
        res
          .writeHead(isApiError(e) ? e.status : 500, { 'content-type': 'application/json' })
          .end(JSON.stringify(isApiError(e) ? e.toBody() : {})),
    );
  });
  server.on('upgrade', (req, socket, head) =>
    proxy.handles(req) ? proxy.upgrade(req, socket, head) : socket.destroy(),
  );
  return new Promise<{ url: string; port: number; close(): void }>((resolve) =>
    server.listen(0, '127.0.0.1', () => {
      const port = (server.address() as AddressInfo).port;
      resolve({
        url: `http://127.0.0.1:${port}`,
        port,
        close: () => {
          server.closeAllConnections();
          server.close();
        },
      });
    }),
  );
}

const run = promisify(execFile);

/** Runs a shell command inside a running instance's namespaces, as the candidate (like its terminal). */
export async function inside(pid: number, script: string): Promise<{ code: number; out: string }> {
  const members = await groupMembers(pid);
  const ide = members.find((p) =>
    readFileSync(`/proc/${p}/cmdline`, 'utf8').startsWith('/opt/ide/'),
  );
  if (!ide) throw new Error('no code-server process inside the sandbox');
  try {
    const r = await run('nsenter', [
      '-t',
      String(ide),
      '-a',
      '-r',
      '-w',
      '-S',
      '1000',
      '-G',
      '1000',
      '/bin/bash',
      '-c',
      script,
    ]);
    return { code: 0, out: r.stdout + r.stderr };
  } catch (e) {
    const err = e as { code: number; stdout: string; stderr: string };
    return { code: err.code, out: err.stdout + err.stderr };
  }
}
