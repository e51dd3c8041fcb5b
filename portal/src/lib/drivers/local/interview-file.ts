import { rename, writeFile } from 'node:fs/promises';
import type { InstanceLayout } from './layout';

/**
 * What an instance may know about its interview, in `run/interview.json` (inside the sandbox
 * `/run/ide/interview.json`; code-server's environment names it as INTERVIEW_CONFIG_FILE). The
 * gateway token is per interview and revocable; the provider key never appears here (I4).
 */
export interface InterviewFile {
  interviewId: string;
  gatewayUrl?: string;
  gatewayToken?: string;
}

/** Written whole (temp file + rename), readable only by the instance's user. */
export async function writeInterviewFile(
  layout: InstanceLayout,
  content: InterviewFile,
): Promise<void> {
  const tmp = `${layout.interviewFile}.tmp`;
  await writeFile(tmp, JSON.stringify(content, null, 2) + '\n', { mode: 0o600 });
  await rename(tmp, layout.interviewFile);
}
