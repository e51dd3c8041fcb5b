import { readdir, readFile, rename, writeFile } from 'node:fs/promises';
import { instancesRoot, layoutOf, INSTANCE_ID } from './layout';
import { isAlive, probeHealth } from './process';

/**
 * What the driver records about a spawned instance, in DATA_DIR/instances/<id>/state.json.
 * A restarted portal adopts instances from these files; status always comes from the real
 * process (pid alive, socket answering /healthz), never from this file alone. No secrets here.
 */
export interface InstanceState {
  v: 1;
  interviewId: string;
  challengeId: string;
  deadlineAt: number;
  /** Leader of the instance's process group (bwrap, or code-server's node). pgid = pid. */
  pid: number;
  /** Host path of code-server's unix socket. */
  socket: string;
  sandbox: 'bwrap' | 'none';
  network: 'none' | 'host';
  startedAt: number;
  codeServerVersion: string;
  /**
   * The root the process was spawned under when it is not this instance's own folder: a warm
   * instance was started in a pool slot (DATA_DIR/pool/<slot>) that a create then renamed to
   * DATA_DIR/instances/<id>, leaving a symlink behind so the unsandboxed process's paths still
   * resolve. Liveness looks for this path in the process's command line; destroy removes the link.
   */
  spawnRoot?: string;
}

export type Liveness = 'ready' | 'starting' | 'dead';

/** Reads and probes the state files of local instances. */
export class InstanceRegistry {
  constructor(private readonly dataDir: string) {}

  async read(interviewId: string): Promise<InstanceState | null> {
    try {
      const s = JSON.parse(await readFile(layoutOf(this.dataDir, interviewId).stateFile, 'utf8'));
      return s && s.v === 1 && s.interviewId === interviewId ? (s as InstanceState) : null;
    } catch {
      return null;
    }
  }

  /** Writes the state file of `state.interviewId`, or at `file` (a warm slot about to be claimed). */
  async write(
    state: InstanceState,
    file = layoutOf(this.dataDir, state.interviewId).stateFile,
  ): Promise<void> {
    await writeFile(`${file}.tmp`, JSON.stringify(state, null, 2) + '\n', { mode: 0o600 });
    await rename(`${file}.tmp`, file);
  }

  /** Ids of every instance folder (running or not). */
  async ids(): Promise<string[]> {
    try {
      return (await readdir(instancesRoot(this.dataDir), { withFileTypes: true }))
        .filter((e) => e.isDirectory() && INSTANCE_ID.test(e.name))
        .map((e) => e.name)
        .sort();
    } catch {
      return [];
    }
  }

  /** `ready`: process alive and /healthz answers; `starting`: alive, not answering yet; `dead`. */
  async liveness(state: InstanceState): Promise<Liveness> {
    // With the trailing slash, instance `a` never matches instance `ab`'s command line.
    const marker = `${state.spawnRoot ?? layoutOf(this.dataDir, state.interviewId).root}/`;
    if (!(await isAlive(state.pid, marker))) return 'dead';
    return (await probeHealth(state.socket)) ? 'ready' : 'starting';
  }
}
