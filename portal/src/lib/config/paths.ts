import path from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * The repository root. Computed from this file's location when it runs from source
 * (tsx, vitest); Next bundles route handlers elsewhere, where it falls back to the
 * working directory's parent (the portal workspace is started with cwd = portal/).
 */
function findRepoRoot(): string {
  try {
    const here = path.dirname(fileURLToPath(import.meta.url));
    if (here.includes(`${path.sep}portal${path.sep}src${path.sep}lib`)) {
      return path.resolve(here, '../../../..');
    }
  } catch {
    // not a file URL (bundled): fall through
  }
  const cwd = process.cwd();
  return path.basename(cwd) === 'portal' ? path.dirname(cwd) : cwd;
}

export const repoRoot = findRepoRoot();
export const challengesDir = path.join(repoRoot, 'challenges');
