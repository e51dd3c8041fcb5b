import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

export interface EmbeddedDynalite {
  endpoint: string;
  stop(): Promise<void>;
}

const childScript = path.join(path.dirname(fileURLToPath(import.meta.url)), 'dynalite-child.mjs');

/**
 * Starts dynalite as a child process. `dir` persists data (LevelDB, one process per directory);
 * without it the data lives in memory (tests).
 */
export async function startDynalite(
  opts: { dir?: string; port?: number } = {},
): Promise<EmbeddedDynalite> {
  if (opts.dir) mkdirSync(opts.dir, { recursive: true });
  const child: ChildProcess = spawn(
    process.execPath,
    [childScript, String(opts.port ?? 0), opts.dir ?? ''],
    { stdio: ['pipe', 'pipe', 'inherit'] },
  );
  const port = await new Promise<number>((resolve, reject) => {
    const lines = createInterface({ input: child.stdout! });
    lines.once('line', (line) => {
      try {
        resolve(JSON.parse(line).port);
      } catch {
        reject(new Error(`dynalite: unexpected output ${line}`));
      }
    });
    child.once('exit', (code) =>
      reject(
        new Error(
          `dynalite exited with ${code}${opts.dir ? ` (is ${opts.dir} in use by another process?)` : ''}`,
        ),
      ),
    );
    child.once('error', reject);
  });
  return {
    endpoint: `http://127.0.0.1:${port}`,
    stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.stdin?.end();
        setTimeout(() => child.kill('SIGKILL'), 3000).unref();
      }),
  };
}
