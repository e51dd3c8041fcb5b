import { existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { InstanceLayout } from './layout';
import type { IdeRuntime } from './runtime';
import { repoRoot } from '../../config/paths';

/** The in-sandbox end of the gateway bridge (network `none` only); bound read-only. */
export const GATEWAY_FORWARDER = path.join(
  repoRoot,
  'portal/src/lib/drivers/local/gateway-forwarder.mjs',
);

export type SandboxSetting = 'auto' | 'bwrap' | 'none';
export type NetworkPolicy = 'none' | 'host';

/** What this host can do: bubblewrap found, or running without a sandbox (and why). */
export type Sandbox = { kind: 'bwrap'; bwrap: string } | { kind: 'none'; warning?: string };

const BWRAP_CANDIDATES = ['/usr/bin/bwrap', '/usr/local/bin/bwrap', '/bin/bwrap'];

/**
 * Decides once per process how instances are isolated. `auto` uses bubblewrap when installed and
 * otherwise starts instances unsandboxed with a warning (shown in /api/health); `bwrap` makes a
 * missing bubblewrap an error; `none` is a deliberate choice (no warning).
 */
export function detectSandbox(
  setting: SandboxSetting,
  find: (p: string) => boolean = existsSync,
): Sandbox {
  if (setting === 'none') return { kind: 'none' };
  const bwrap = BWRAP_CANDIDATES.find(find);
  if (bwrap) return { kind: 'bwrap', bwrap };
  if (setting === 'bwrap')
    throw new Error('SANDBOX=bwrap but bubblewrap is not installed (apt-get install bubblewrap)');
  return {
    kind: 'none',
    warning:
      "bubblewrap is not installed: candidate IDEs run unsandboxed and can read this host's files (install the `bubblewrap` package)",
  };
}

/** Paths as code-server sees them (inside the sandbox they differ from the host's). */
export interface SandboxPaths {
  nodeBin: string;
  codeServerEntry: string;
  extensionsDir: string;
  home: string;
  workspace: string;
  socket: string;
  tmp: string;
  configFile: string;
  interviewFile: string;
}

export const INSIDE = {
  runtime: '/opt/ide',
  forwarder: '/opt/ide-bin/gateway-forwarder.mjs',
  extensions: '/opt/ide-extensions',
  home: '/home/candidate',
  workspace: '/workspace',
  run: '/run/ide',
  tmp: '/tmp',
} as const;

/** `/etc` files a shell, git, python and node need; nothing that names the host's users or secrets. */
const ETC_FILES = [
  'ld.so.cache',
  'ld.so.conf',
  'ld.so.conf.d',
  'alternatives',
  'ssl',
  'ca-certificates',
  'nsswitch.conf',
  'localtime',
  'timezone',
  'mime.types',
  'bash.bashrc',
  'profile',
  'profile.d',
  'inputrc',
  'gitconfig',
  'magic',
  'magic.mime',
  'protocols',
  'services',
  'debian_version',
  'os-release',
];
const ETC_FILES_HOST_NET = ['resolv.conf', 'hosts', 'gai.conf', 'host.conf'];

/**
 * The bubblewrap profile of one instance. The candidate sees only: /usr (read-only), a few /etc
 * files, the IDE runtime and the shared extensions (read-only), and their own home, workspace,
 * tmp and socket folder. Not the host's home, the repo, DATA_DIR or any other instance.
 * `--unshare-all` gives new user, pid, ipc, uts, cgroup and (unless policy `host`) network
 * namespaces; `--cap-drop ALL`, uid 1000 inside.
 *
 * No `--die-with-parent`: an instance must outlive a portal restart (the portal spawns it in its
 * own session and adopts it from its state file). Teardown is `kill(-pgid)`: that reaches the
 * sandbox's pid 1, and the kernel then kills everything in its pid namespace — including terminal
 * shells, which run in sessions of their own.
 */
export function bwrapArgs(
  rt: IdeRuntime,
  layout: InstanceLayout,
  network: NetworkPolicy,
): string[] {
  const args = [
    '--unshare-all',
    ...(network === 'host' ? ['--share-net'] : []),
    '--uid',
    '1000',
    '--gid',
    '1000',
    '--cap-drop',
    'ALL',
    '--hostname',
    'interview',
    '--ro-bind',
    '/usr',
    '/usr',
    '--symlink',
    'usr/bin',
    '/bin',
    '--symlink',
    'usr/sbin',
    '/sbin',
    '--symlink',
    'usr/lib',
    '/lib',
    ...(existsSync('/usr/lib64') ? ['--symlink', 'usr/lib64', '/lib64'] : []),
    '--proc',
    '/proc',
    '--dev',
    '/dev',
    '--dir',
    '/etc',
  ];
  for (const f of [...ETC_FILES, ...(network === 'host' ? ETC_FILES_HOST_NET : [])]) {
    args.push('--ro-bind-try', `/etc/${f}`, `/etc/${f}`);
  }
  args.push(
    '--ro-bind',
    path.join(layout.sandboxEtc, 'passwd'),
    '/etc/passwd',
    '--ro-bind',
    path.join(layout.sandboxEtc, 'group'),
    '/etc/group',
    '--ro-bind',
    path.join(layout.sandboxEtc, 'hostname'),
    '/etc/hostname',
    '--ro-bind',
    rt.runtimeDir,
    INSIDE.runtime,
    '--ro-bind',
    rt.extensionsDir,
    INSIDE.extensions,
    ...(network === 'none' ? ['--ro-bind', GATEWAY_FORWARDER, INSIDE.forwarder] : []),
    '--bind',
    layout.home,
    INSIDE.home,
    '--bind',
    layout.workspace,
    INSIDE.workspace,
    '--bind',
    layout.run,
    INSIDE.run,
    '--bind',
    layout.tmp,
    INSIDE.tmp,
    '--chdir',
    INSIDE.workspace,
  );
  // No --clearenv: the spawn environment is already built from scratch (process.ts) and is the
  // only way the interview's settings reach the IDE without showing in argv.
  return args;
}

export function pathsInside(
  rt: IdeRuntime,
  layout: InstanceLayout,
  sandboxed: boolean,
): SandboxPaths {
  if (!sandboxed) {
    return {
      nodeBin: rt.nodeBin,
      codeServerEntry: rt.codeServerEntry,
      extensionsDir: rt.extensionsDir,
      home: layout.home,
      workspace: layout.workspace,
      socket: layout.socket,
      tmp: layout.tmp,
      configFile: layout.configFile,
      interviewFile: layout.interviewFile,
    };
  }
  const inRuntime = (p: string) => path.posix.join(INSIDE.runtime, path.relative(rt.runtimeDir, p));
  return {
    nodeBin: inRuntime(rt.nodeBin),
    codeServerEntry: inRuntime(rt.codeServerEntry),
    extensionsDir: INSIDE.extensions,
    home: INSIDE.home,
    workspace: INSIDE.workspace,
    socket: path.posix.join(INSIDE.run, path.basename(layout.socket)),
    tmp: INSIDE.tmp,
    // The config file lives in run/ so the sandbox sees it without seeing the instance root.
    configFile: path.posix.join(INSIDE.run, path.basename(layout.configFile)),
    interviewFile: path.posix.join(INSIDE.run, path.basename(layout.interviewFile)),
  };
}

/** The synthetic /etc/passwd, /etc/group and /etc/hostname bound into the sandbox. */
export async function writeSandboxEtc(layout: InstanceLayout): Promise<void> {
  await mkdir(layout.sandboxEtc, { recursive: true });
  await writeFile(
    path.join(layout.sandboxEtc, 'passwd'),
    `root:x:0:0:root:/root:/usr/sbin/nologin\ncandidate:x:1000:1000:Candidate:${INSIDE.home}:/bin/bash\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n`,
  );
  await writeFile(
    path.join(layout.sandboxEtc, 'group'),
    'root:x:0:\ncandidate:x:1000:\nnogroup:x:65534:\n',
  );
  await writeFile(path.join(layout.sandboxEtc, 'hostname'), 'interview\n');
}
