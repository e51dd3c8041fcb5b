import { Readable } from 'node:stream';
import { notFound } from '../http/errors';
import { archiveKey } from '../storage/keys';
import type { Storage } from '../storage';
import { InterviewStore } from '../store/interviews';
import type { Runtime } from '../runtime';

export interface ArchiveDownload {
  filename: string;
  bytes: number;
  body: ReadableStream<Uint8Array>;
}

/**
 * The candidate's archived workspace, for interviewers. 404 (the one error shape) for an unknown
 * interview, and for one whose archive does not exist yet (the interview has not ended, or its
 * archive failed: the destroy operation's log says which).
 */
export class InterviewArchives {
  constructor(
    private readonly deps: {
      storage: Storage;
      interviews: { get(id: string): Promise<unknown | null> };
    },
  ) {}

  async open(interviewId: string): Promise<ArchiveDownload> {
    if (!(await this.deps.interviews.get(interviewId))) throw notFound('Interview');
    const key = archiveKey(interviewId);
    const info = await this.deps.storage.head(key);
    const stream = info && (await this.deps.storage.get(key));
    if (!info || !stream) throw notFound('Archive');
    return {
      filename: `${interviewId}-workspace.tar.gz`,
      bytes: info.bytes,
      body: Readable.toWeb(stream) as ReadableStream<Uint8Array>,
    };
  }
}

export function interviewArchivesFor(
  runtime: Pick<Runtime, 'db' | 'config' | 'storage'>,
): InterviewArchives {
  return new InterviewArchives({
    storage: runtime.storage,
    interviews: new InterviewStore(runtime.db, runtime.config.tables.interviews),
  });
}
