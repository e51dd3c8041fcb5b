import { spawn } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import http from 'node:http';
import path from 'node:path';
import type { InstanceLayout } from './layout';
import type { IdeRuntime } from './runtime';
import {
  bwrapArgs,
  INSIDE,
  pathsInside,
  writeSandboxEtc,
  type NetworkPolicy,
  type Sandbox,
} from './sandbox';
import { USER_DATA_SUBDIR } from './workspace';

export interface SpawnPlan {
  /** Unset for a warm-pool instance: its interview is not known yet (see run/interview.json). */
  interviewId?: string;
  runtime: IdeRuntime;
  layout: InstanceLayout;
  sandbox: Sandbox;
  network: NetworkPolicy;
  /** Per-interview values for our extension (the gateway token is per interview; never the provider key). */
  gateway?: { url: string; token: string };
}

/**
 * Starts code-server for one instance in its own session and process group (`detached`), with
 * its own config file, HOME/XDG dirs and TMPDIR, `--auth none` on a unix socket with mode 0600 (so
 * only the portal's proxy, running as the same user, reaches it). The environment is built from
 * scratch: nothing of the portal's environment (e.g. OPENAI_API_KEY) reaches the instance (I4).
 * Returns the pid of the group leader (bwrap, or code-server's node when unsandboxed).
 */
export async function spawnCodeServer(plan: SpawnPlan): Promise<{ pid: number; argv: string[] }> {
  const { runtime, layout, sandbox } = plan;
  const sandboxed = sandbox.kind === 'bwrap';
  const p = pathsInside(runtime, layout, sandboxed);
  // The shared extensions dir may be empty (extension not built yet) but must exist to be bound.
  await mkdir(runtime.extensionsDir, { recursive: true });
  await writeFile(layout.configFile, 'auth: none\ncert: false\n', { mode: 0o600 });
  if (sandboxed) await writeSandboxEtc(layout);

  const ide = [
    p.nodeBin,
    p.codeServerEntry,
    '--config',
    p.configFile,
    '--auth',
    'none',
    '--socket',
    p.socket,
    '--socket-mode',
    '600',
    '--user-data-dir',
    path.posix.join(p.home, USER_DATA_SUBDIR),
    '--extensions-dir',
    p.extensionsDir,
    '--disable-telemetry',
    '--disable-update-check',
    '--disable-workspace-trust',
    '--disable-getting-started-override',
    '--ignore-last-opened',
    p.workspace,
  ];
  const env: Record<string, string> = {
    HOME: p.home,
    USER: 'candidate',
    LOGNAME: 'candidate',
    SHELL: '/bin/bash',
    PATH: '/usr/local/bin:/usr/bin:/bin',
    LANG: 'C.UTF-8',
    TERM: 'xterm-256color',
    TMPDIR: p.tmp,
    XDG_CONFIG_HOME: path.posix.join(p.home, '.config'),
    XDG_DATA_HOME: path.posix.join(p.home, '.local/share'),
    XDG_CACHE_HOME: path.posix.join(p.home, '.cache'),
    // Our extension reads the interview's id and gateway from this file (rewritten when a warm
    // instance is claimed); the variables below are only set for instances started cold.
    INTERVIEW_CONFIG_FILE: p.interviewFile,
    ...(plan.interviewId && { INTERVIEW_ID: plan.interviewId }),
    ...(plan.gateway && {
      INTERVIEW_GATEWAY_URL: plan.gateway.url,
      INTERVIEW_GATEWAY_TOKEN: plan.gateway.token,
    }),
  };
  // bwrap passes its environment through, so secrets never appear in argv (readable by `ps`).
  // Network `none`: the sandbox's shell starts the gateway forwarder on the sandbox's loopback,
  // then becomes code-server (`exec`), so both stay in the instance's process group.
  const inSandbox =
    plan.network === 'none'
      ? ['/bin/bash', '-c', `${p.nodeBin} ${INSIDE.forwarder} & exec "$@"`, 'ide', ...ide]
      : ide;
  const [cmd, ...args] = sandboxed
    ? [sandbox.bwrap, ...bwrapArgs(runtime, layout, plan.network), ...inSandbox]
    : ide;
  const out = openSync(layout.logFile, 'a', 0o600);
  try {
    const child = spawn(cmd!, args, {
      detached: true,
      cwd: layout.workspace,
      env: env as NodeJS.ProcessEnv,
      stdio: ['ignore', out, out],
    });
    const pid = await new Promise<number>((resolve, reject) => {
      child.once('error', reject);
      child.once('spawn', () => resolve(child.pid!));
    });
    child.unref();
    return { pid, argv: [cmd!, ...args] };
  } finally {
    closeSync(out);
  }
}

/** True when `pid` is a live (non-zombie) process whose command line mentions `marker`. */
export async function isAlive(pid: number, marker: string): Promise<boolean> {
  try {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
    if (/\) Z /.test(stat)) return false;
    const cmdline = await readFile(`/proc/${pid}/cmdline`, 'utf8');
    return cmdline.includes(marker);
  } catch {
    return false;
  }
}

/** Live (non-zombie) members of a process group, read from /proc. */
export async function groupMembers(pgid: number): Promise<number[]> {
  const members: number[] = [];
  for (const name of await readdir('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = await readFile(`/proc/${name}/stat`, 'utf8');
      // Fields after "(comm)": state ppid pgrp ...
      const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (Number(rest[2]) === pgid && rest[0] !== 'Z') members.push(Number(name));
    } catch {
      // exited meanwhile
    }
  }
  return members;
}

/**
 * Stops a whole process group: SIGTERM, then SIGKILL after `graceMs`. Killing only the leader
 * would leave code-server's file watcher (and, in a sandbox, everything inside) behind.
 */
export async function stopGroup(pgid: number, graceMs = 3000): Promise<void> {
  const signal = (s: NodeJS.Signals) => {
    try {
      process.kill(-pgid, s);
    } catch {
      // ESRCH: already gone
    }
  };
  signal('SIGTERM');
  const until = Date.now() + graceMs;
  while (Date.now() < until) {
    if ((await groupMembers(pgid)).length === 0) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  signal('SIGKILL');
  for (let i = 0; i < 100; i++) {
    if ((await groupMembers(pgid)).length === 0) return;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`process group ${pgid} survived SIGKILL`);
}

/** GET /healthz over the instance's unix socket: true on 200. Never throws. */
export function probeHealth(socketPath: string, timeoutMs = 1000): Promise<boolean> {
  return new Promise((resolve) => {
    const req = http.get(
      { socketPath, path: '/healthz', host: 'localhost', timeout: timeoutMs },
      (res) => {
        res.resume();
        resolve(res.statusCode === 200);
      },
    );
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(false));
  });
}
