import { pipeline, Transform, type TransformCallback } from 'node:stream';
import { create as tarCreate } from 'tar';
import type { Storage } from '../../storage/storage';
import { archiveKey } from '../../storage/keys';

export { archiveKey };

/** Folders never archived: dependencies and VCS data the candidate can regenerate. */
export const SKIPPED_DIRS = new Set(['node_modules', '.venv', '.git', '__pycache__']);

export class ArchiveTooLargeError extends Error {
  constructor(readonly maxBytes: number) {
    super(`workspace archive is larger than ${maxBytes} bytes`);
    this.name = 'ArchiveTooLargeError';
  }
}

/**
 * Packs a workspace as tar.gz into storage under `archives/<id>/workspace.tar.gz`. Skips
 * node_modules, .venv, .git (at any depth); fails (never truncates) beyond `maxBytes`. Transient
 * failures are retried with backoff; a too-large archive is not (it would fail again).
 */
export async function archiveWorkspace(opts: {
  interviewId: string;
  workspace: string;
  storage: Storage;
  maxBytes: number;
  attempts?: number;
  signal?: AbortSignal;
  log?: (message: string) => void;
}): Promise<{ key: string; bytes: number }> {
  const key = archiveKey(opts.interviewId);
  const attempts = opts.attempts ?? 3;
  for (let attempt = 1; ; attempt++) {
    try {
      const pack = tarCreate(
        {
          gzip: true,
          cwd: opts.workspace,
          portable: true,
          filter: (p: string) => !p.split('/').some((seg) => SKIPPED_DIRS.has(seg)),
        },
        ['.'],
      );
      const body = capped(opts.maxBytes);
      // pipeline() destroys `body` with tar's error, so storage.put sees every failure.
      pipeline(pack, body, () => {});
      const info = await opts.storage.put(key, body);
      return { key, bytes: info.bytes };
    } catch (e) {
      if (e instanceof ArchiveTooLargeError || attempt >= attempts || opts.signal?.aborted) throw e;
      opts.log?.(`archive attempt ${attempt} failed: ${(e as Error).message}; retrying`);
      await new Promise((r) => setTimeout(r, 250 * 4 ** (attempt - 1)));
    }
  }
}

function capped(maxBytes: number): Transform {
  let total = 0;
  return new Transform({
    transform(chunk: Buffer, _enc, done: TransformCallback) {
      total += chunk.length;
      if (total > maxBytes) done(new ArchiveTooLargeError(maxBytes));
      else done(null, chunk);
    },
  });
}
