import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';

const portalDir = path.resolve(import.meta.dirname, '../..');

export interface PortalProcess {
  url: string;
  adminToken: string;
  dataDir: string;
  proc: ChildProcess;
  /** Output lines so far (for assertions and failure messages). */
  output: string[];
  /** Fetch with the admin bearer token. */
  api(pathname: string, init?: RequestInit & { json?: unknown }): Promise<Response>;
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

export const TEST_ADMIN_TOKEN = 'test-admin-token-0123456789abcdef';

/**
 * Starts the real portal (custom server + Next production build) as a child process on a free
 * port against the given DynamoDB endpoint. Needs `npm run build -w portal` first.
 */
export async function startPortal(opts: {
  dynamoEndpoint: string;
  tablePrefix: string;
  env?: Record<string, string>;
  dataDir?: string;
}): Promise<PortalProcess> {
  if (!existsSync(path.join(portalDir, '.next', 'BUILD_ID'))) {
    throw new Error('The portal is not built: run `npm run build -w portal` (npm test does it).');
  }
  const dataDir = opts.dataDir ?? mkdtempSync(path.join(tmpdir(), 'portal-test-'));
  const proc = spawn(process.execPath, ['--import', 'tsx', 'server.ts'], {
    cwd: portalDir,
    env: {
      ...process.env,
      NODE_ENV: 'production',
      NEXT_TELEMETRY_DISABLED: '1',
      PORT: '0',
      HOST: '127.0.0.1',
      DATA_DIR: dataDir,
      DYNAMODB_ENDPOINT: opts.dynamoEndpoint,
      TABLE_PREFIX: opts.tablePrefix,
      APP_ENV: 'test',
      ADMIN_TOKEN: TEST_ADMIN_TOKEN,
      LOG_LEVEL: 'warn',
      ...opts.env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const output: string[] = [];
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`portal did not start:\n${output.join('\n')}`)),
      60_000,
    );
    for (const stream of [proc.stdout!, proc.stderr!]) {
      createInterface({ input: stream }).on('line', (line) => {
        output.push(line);
        const m = /Portal ready on (http:\/\/[^\s]+)/.exec(line);
        if (m) {
          clearTimeout(timer);
          resolve(m[1]!);
        }
      });
    }
    proc.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`portal exited with ${code}:\n${output.join('\n')}`));
    });
  });
  return {
    url,
    adminToken: TEST_ADMIN_TOKEN,
    dataDir,
    proc,
    output,
    api(pathname, init = {}) {
      const { json, ...rest } = init;
      const headers = new Headers(rest.headers);
      if (!headers.has('authorization')) headers.set('authorization', `Bearer ${TEST_ADMIN_TOKEN}`);
      if (json !== undefined) headers.set('content-type', 'application/json');
      return fetch(url + pathname, {
        ...rest,
        headers,
        body: json !== undefined ? JSON.stringify(json) : rest.body,
      });
    },
    stop(signal = 'SIGTERM') {
      return new Promise((resolve) => {
        // Already gone (exitCode, or signalCode after a kill): 'exit' will not fire again.
        if (proc.exitCode !== null || proc.signalCode !== null) return resolve(proc.exitCode);
        proc.once('exit', (code) => resolve(code));
        proc.kill(signal);
      });
    },
  };
}
