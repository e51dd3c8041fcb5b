import path from 'node:path';

/** Interview ids become folder names and URL segments: keep them boring. */
export const INSTANCE_ID = /^[A-Za-z0-9_-]{1,64}$/;

export function assertInstanceId(id: string): void {
  if (!INSTANCE_ID.test(id))
    throw new Error(`invalid interview id for an instance: ${JSON.stringify(id)}`);
}

/**
 * The files of one local instance, all under DATA_DIR/instances/<id>/:
 * - `state.json`   what the driver spawned (pid, socket, sandbox); how a restarted portal adopts it
 * - `workspace/`   the candidate's files (seeded from the challenge; archived at destroy)
 * - `home/`        HOME with the XDG config/data/cache dirs and code-server's user-data-dir
 * - `run/`         code-server's unix socket (`ide.sock`) and its own `config.yaml` (so it never
 *                  reads ~/.config/code-server)
 * - `tmp/`         TMPDIR
 * - `ide.log`      code-server's stdout/stderr
 * - `run/interview.json` what the instance may know about its interview (id, gateway URL and
 *                  token), written at create: a warm instance starts before its interview exists,
 *                  so this file, not the environment, is the source of truth for our extension
 */
export interface InstanceLayout {
  root: string;
  stateFile: string;
  workspace: string;
  home: string;
  run: string;
  socket: string;
  tmp: string;
  configFile: string;
  interviewFile: string;
  /** Network `none`: the portal's end of the gateway bridge (see gateway-bridge.ts). */
  gatewaySocket: string;
  logFile: string;
  sandboxEtc: string;
}

export function instancesRoot(dataDir: string): string {
  return path.join(dataDir, 'instances');
}

/** Warm-pool slots live under DATA_DIR/pool/<slot>/ until a create claims one (see warm-pool.ts). */
export function poolRoot(dataDir: string): string {
  return path.join(dataDir, 'pool');
}

export function layoutOf(dataDir: string, interviewId: string): InstanceLayout {
  assertInstanceId(interviewId);
  return layoutAt(path.join(instancesRoot(dataDir), interviewId));
}

/** The same file layout under any root (a warm-pool slot is laid out like an instance). */
export function layoutAt(root: string): InstanceLayout {
  return {
    root,
    stateFile: path.join(root, 'state.json'),
    workspace: path.join(root, 'workspace'),
    home: path.join(root, 'home'),
    run: path.join(root, 'run'),
    socket: path.join(root, 'run', 'ide.sock'),
    tmp: path.join(root, 'tmp'),
    configFile: path.join(root, 'run', 'config.yaml'),
    interviewFile: path.join(root, 'run', 'interview.json'),
    gatewaySocket: path.join(root, 'run', 'gateway.sock'),
    logFile: path.join(root, 'ide.log'),
    sandboxEtc: path.join(root, 'etc'),
  };
}

/** Unix socket paths are limited to 107 bytes on Linux. */
export const MAX_SOCKET_PATH = 107;
