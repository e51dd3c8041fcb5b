import { spawn, type ChildProcess } from 'node:child_process';
import { setPriority } from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import type { UpstreamRecord } from '../../support/openai-upstream';

/** The test upstream in its own OS process (so its tokenizer work never shows up in this process's event loop). */
export async function startUpstreamProcess(opts: {
  apiKey: string;
  args?: string[];
}): Promise<{
  url: string;
  port: number;
  child: ChildProcess;
  records(): Promise<UpstreamRecord[]>;
  close(): Promise<void>;
}> {
  const script = path.join(import.meta.dirname, '..', '..', 'support', 'openai-upstream.ts');
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', script, '--key', opts.apiKey, ...(opts.args ?? [])],
    {
      stdio: ['pipe', 'pipe', 'inherit'],
      cwd: path.join(import.meta.dirname, '..', '..', '..'),
    },
  );
  // Lowest CPU priority: its tokenizer must not take the core the measured event loop runs on.
  try {
    setPriority(child.pid!, 19);
  } catch {
    // not permitted here: measurements just get noisier
  }
  const line = await new Promise<string>((resolve, reject) => {
    createInterface({ input: child.stdout! }).once('line', resolve);
    child.once('exit', (c) => reject(new Error(`upstream exited ${c}`)));
  });
  const { port, url } = JSON.parse(line) as { port: number; url: string };
  return {
    url,
    port,
    child,
    records: async () =>
      (await (await fetch(`http://127.0.0.1:${port}/__stats`)).json()) as UpstreamRecord[],
    close: () =>
      new Promise<void>((r) => {
        if (child.exitCode !== null) return r();
        child.once('exit', () => r());
        child.stdin!.end();
        setTimeout(() => child.kill('SIGKILL'), 3000).unref();
      }),
  };
}
