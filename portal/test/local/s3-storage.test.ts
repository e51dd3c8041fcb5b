import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, describe, expect, it } from 'vitest';
import { S3Storage } from '@/lib/storage/s3-storage';
import { storageContract } from '../support/storage-contract';

/**
 * S3Storage against s3rver (an S3-compatible server, devDependency) in a child process. s3rver
 * needs Node's legacy OpenSSL provider for paged ListObjectsV2 (see notes/platform.md). Missing
 * s3rver fails this file: the S3 code path is never silently untested.
 */
async function startS3rver(bucket: string): Promise<{ endpoint: string; stop(): Promise<void> }> {
  let bin: string;
  try {
    bin = createRequire(import.meta.url).resolve('s3rver/bin/s3rver.js');
  } catch {
    throw new Error(
      's3rver is not installed: run `npm install` (it is a devDependency of the portal); the S3 storage tests need it',
    );
  }
  const dir = mkdtempSync(path.join(tmpdir(), 's3rver-'));
  const child: ChildProcess = spawn(
    process.execPath,
    [bin, '-d', dir, '-a', '127.0.0.1', '-p', '0', '--configure-bucket', bucket],
    {
      env: { ...process.env, NODE_OPTIONS: '--openssl-legacy-provider' },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  const output: string[] = [];
  const endpoint = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`s3rver did not start:\n${output.join('\n')}`)),
      15_000,
    );
    for (const s of [child.stdout!, child.stderr!]) {
      createInterface({ input: s }).on('line', (line) => {
        output.push(line);
        const m = /S3rver listening on ([\d.]+):(\d+)/.exec(line);
        if (m) {
          clearTimeout(timer);
          resolve(`http://${m[1]}:${m[2]}`);
        }
      });
    }
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`s3rver exited with ${code}:\n${output.join('\n')}`));
    });
  });
  return {
    endpoint,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        await new Promise((r) => {
          child.once('exit', r);
          child.kill('SIGTERM');
        });
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

const BUCKET = 'interview-archives';
const server = await startS3rver(BUCKET);
const clients: S3Storage[] = [];
const storage = (extra: Partial<ConstructorParameters<typeof S3Storage>[0]> = {}) => {
  const s = new S3Storage({
    bucket: BUCKET,
    region: 'us-east-1',
    endpoint: server.endpoint,
    forcePathStyle: true,
    credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' },
    partBytes: 5 * 1024 * 1024,
    ...extra,
  });
  clients.push(s);
  return s;
};
afterAll(async () => {
  for (const c of clients) c.destroy();
  await server.stop();
});

storageContract('s3 (s3rver)', () => storage());

describe('s3 storage specifics', () => {
  it('list follows continuation tokens across pages', async () => {
    const s = storage({ listPageSize: 2 });
    const keys = ['p/1', 'p/2', 'p/3', 'p/4', 'p/5'];
    for (const k of keys) await s.put(k, Buffer.from(k));
    expect(await s.list('p/')).toEqual(keys);
  });

  it('a missing bucket is an error, not an empty store', async () => {
    await expect(storage({ bucket: 'no-such-bucket' }).list('')).rejects.toThrow();
  });
});
