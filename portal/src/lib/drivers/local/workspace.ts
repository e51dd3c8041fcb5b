import { cp, mkdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { InstanceLayout } from './layout';

/**
 * VS Code user settings every instance starts with. `chat.disableAIFeatures` turns off VS Code's
 * own Copilot chat and agents: the interview's only assistant is ours (and it saves ~180 MiB).
 */
export const USER_SETTINGS = {
  'workbench.startupEditor': 'none',
  'telemetry.telemetryLevel': 'off',
  'extensions.autoUpdate': false,
  'extensions.autoCheckUpdates': false,
  'update.mode': 'none',
  'security.workspace.trust.enabled': false,
  'chat.disableAIFeatures': true,
  'workbench.enableExperiments': false,
  'workbench.tips.enabled': false,
} as const;

/** Files of a challenge folder that describe it to the portal and are not the candidate's. */
const NOT_FOR_CANDIDATE = new Set(['challenge.json']);

/** Where code-server keeps user data inside HOME (settings at `<userDataDir>/User/settings.json`). */
export const USER_DATA_SUBDIR = '.local/share/code-server';

/**
 * Creates the instance's folders and, once, its workspace from the challenge's files. A workspace
 * that already exists (an instance restarted after a crash) is left alone: it holds the
 * candidate's work. The copy goes to a temp folder renamed into place, so a half copy is never
 * taken for a workspace.
 */
export async function prepareWorkspace(
  layout: InstanceLayout,
  challengeDir: string | null,
): Promise<{ seeded: boolean }> {
  for (const dir of [layout.root, layout.home, layout.run, layout.tmp])
    await mkdir(dir, { recursive: true, mode: 0o700 });
  for (const sub of ['.config', '.cache', USER_DATA_SUBDIR + '/User'])
    await mkdir(path.join(layout.home, sub), { recursive: true });
  await writeFile(
    path.join(layout.home, USER_DATA_SUBDIR, 'User', 'settings.json'),
    JSON.stringify(USER_SETTINGS, null, 2) + '\n',
  );
  if (await exists(layout.workspace)) return { seeded: false };
  const tmp = `${layout.workspace}.partial`;
  await rm(tmp, { recursive: true, force: true });
  await mkdir(tmp, { recursive: true });
  if (challengeDir) {
    await cp(challengeDir, tmp, {
      recursive: true,
      filter: (src) => !NOT_FOR_CANDIDATE.has(path.relative(challengeDir, src)),
    });
  }
  await rename(tmp, layout.workspace);
  return { seeded: true };
}

/**
 * Copies a challenge's files into an existing, empty workspace: a claimed warm instance's
 * workspace is bound into its running sandbox, so it must be filled in place, not replaced.
 */
export async function fillWorkspace(workspace: string, challengeDir: string): Promise<void> {
  await cp(challengeDir, workspace, {
    recursive: true,
    filter: (src) => !NOT_FOR_CANDIDATE.has(path.relative(challengeDir, src)),
  });
}

async function exists(p: string): Promise<boolean> {
  try {
    await stat(p);
    return true;
  } catch {
    return false;
  }
}
