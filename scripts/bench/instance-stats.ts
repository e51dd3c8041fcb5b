// Shared by the local-instance benchmarks: memory of one instance's process group from /proc.
import { readFile } from 'node:fs/promises';
import { groupMembers } from '../../portal/src/lib/drivers/local/process';

/** Sum over the group of a /proc field in kB (VmRSS from status, Pss from smaps_rollup), in MiB. */
export async function groupMemoryMb(pgid: number, field: 'rss' | 'pss'): Promise<number> {
  let kb = 0;
  for (const pid of await groupMembers(pgid)) {
    try {
      const text = await readFile(
        field === 'rss' ? `/proc/${pid}/status` : `/proc/${pid}/smaps_rollup`,
        'utf8',
      );
      const m = (field === 'rss' ? /^VmRSS:\s+(\d+)/m : /^Pss:\s+(\d+)/m).exec(text);
      if (m) kb += Number(m[1]);
    } catch {
      // exited
    }
  }
  return kb / 1024;
}

export const percentile = (xs: number[], p: number) => {
  if (xs.length === 0) return null;
  const s = [...xs].sort((a, b) => a - b);
  return Math.round(s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)]!);
};
