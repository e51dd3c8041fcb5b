import { randomBytes } from 'node:crypto';
import {
  lstat,
  mkdir,
  readdir,
  readFile,
  rename,
  rm,
  stat,
  symlink,
  writeFile,
} from 'node:fs/promises';
import path from 'node:path';
import { layoutAt, poolRoot, type InstanceLayout } from './layout';
import { isAlive, probeHealth, stopGroup } from './process';
import type { NetworkPolicy } from './sandbox';
import { prepareWorkspace } from './workspace';

/** A pre-started code-server with an empty workspace, waiting in DATA_DIR/pool/<slot>/. */
export interface WarmSlot {
  slot: string;
  layout: InstanceLayout;
  pid: number;
  network: NetworkPolicy;
  startedAt: number;
}

export interface WarmPoolDeps {
  dataDir: string;
  /** How many ready slots to keep (WARM_POOL_SIZE). */
  size: number;
  /** Network policy of warm instances; creates asking for another policy start cold. */
  network: NetworkPolicy;
  /** Starts code-server for a prepared slot layout (no interview yet); the driver's spawn. */
  spawn(layout: InstanceLayout): Promise<{ pid: number }>;
  readyTimeoutMs: number;
  log(level: 'info' | 'warn' | 'error', message: string): void;
  /** After this many failed starts in a row the pool waits `retryMs` before trying again. */
  retryMs?: number;
}

/** The slot's own marker file: the pid, so a restarted portal can stop leftovers. */
const WARM_FILE = 'warm.json';
const MAX_FAILURES = 3;

/**
 * Keeps `size` empty code-server instances running so a create only copies the challenge in and
 * renames the slot (see LocalDriver's claim). Slots live outside DATA_DIR/instances, so the
 * reconciler and `list()` never see them: they belong to no interview. A claimed slot's folder is
 * renamed to DATA_DIR/instances/<id> and a symlink is left at the old path (an unsandboxed
 * code-server keeps using its spawn-time paths; a sandboxed one only sees its bind mounts).
 *
 * `start` sweeps slots a previous portal left (a crash skips `close`), then fills; call it once.
 * `close` (graceful portal stop) stops every unclaimed slot; claimed ones are live interviews'.
 */
export class WarmPool {
  private readonly ready: WarmSlot[] = [];
  private filling?: Promise<void>;
  private retryTimer?: NodeJS.Timeout;
  private closed = false;

  constructor(private readonly deps: WarmPoolDeps) {}

  get size(): number {
    return this.deps.size;
  }

  /** Ready slots right now. */
  get available(): number {
    return this.ready.length;
  }

  async start(): Promise<void> {
    await this.sweep();
    this.refill();
  }

  /** A ready slot for this network policy, or undefined (the create starts cold). Refills behind. */
  take(network: NetworkPolicy): WarmSlot | undefined {
    if (network !== this.deps.network) return undefined;
    const slot = this.ready.shift();
    this.refill();
    return slot;
  }

  /** Resolves once the pool is full (or has given up for now): for benchmarks and tests. */
  async settled(): Promise<void> {
    while (this.filling) await this.filling;
  }

  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.retryTimer);
    await this.settled();
    const slots = this.ready.splice(0);
    await Promise.all(slots.map((s) => this.discard(s.layout.root, s.pid)));
    if (slots.length) this.deps.log('info', `warm pool stopped (${slots.length} instance(s))`);
  }

  /**
   * Moves a claimed slot to its interview's folder and leaves a symlink at the old path. The
   * caller has already filled the workspace and written the state file into the slot.
   */
  static async moveTo(slot: WarmSlot, root: string): Promise<void> {
    await mkdir(path.dirname(root), { recursive: true });
    await rename(slot.layout.root, root);
    await rm(path.join(root, WARM_FILE), { force: true });
    await symlink(root, slot.layout.root);
  }

  /** Stops a slot that was taken but could not be claimed. */
  discardTaken(slot: WarmSlot): Promise<void> {
    return this.discard(slot.layout.root, slot.pid);
  }

  private refill(): void {
    if (this.closed || this.filling || this.retryTimer || this.ready.length >= this.deps.size)
      return;
    this.filling = this.fill().finally(() => (this.filling = undefined));
  }

  private async fill(): Promise<void> {
    let failures = 0;
    while (!this.closed && this.ready.length < this.deps.size) {
      try {
        this.ready.push(await this.startOne());
        failures = 0;
      } catch (e) {
        failures++;
        this.deps.log('warn', `warm instance failed to start: ${(e as Error).message}`);
        if (failures >= MAX_FAILURES) {
          this.deps.log(
            'error',
            `warm pool: ${failures} failed starts in a row; trying again later`,
          );
          this.retryTimer = setTimeout(() => {
            this.retryTimer = undefined;
            this.refill();
          }, this.deps.retryMs ?? 60_000);
          this.retryTimer.unref();
          return;
        }
      }
    }
  }

  private async startOne(): Promise<WarmSlot> {
    const slot = `w-${randomBytes(6).toString('hex')}`;
    const layout = layoutAt(path.join(poolRoot(this.deps.dataDir), slot));
    await prepareWorkspace(layout, null);
    const startedAt = Date.now();
    const { pid } = await this.deps.spawn(layout);
    await writeFile(path.join(layout.root, WARM_FILE), JSON.stringify({ pid, startedAt }) + '\n');
    const until = Date.now() + this.deps.readyTimeoutMs;
    for (;;) {
      if (await probeHealth(layout.socket, 500)) break;
      const failed = !(await isAlive(pid, `${layout.root}/`))
        ? `code-server exited during startup (see ${layout.logFile})`
        : Date.now() > until
          ? `no /healthz within ${this.deps.readyTimeoutMs} ms`
          : null;
      if (failed) {
        await this.discard(layout.root, pid);
        throw new Error(failed);
      }
      await new Promise((r) => setTimeout(r, 50));
    }
    return { slot, layout, pid, network: this.deps.network, startedAt };
  }

  private async discard(root: string, pid: number): Promise<void> {
    if (await isAlive(pid, `${root}/`)) await stopGroup(pid).catch(() => {});
    await rm(root, { recursive: true, force: true });
  }

  /** Stops and removes what a previous portal left in the pool; drops links to ended instances. */
  private async sweep(): Promise<void> {
    const dir = poolRoot(this.deps.dataDir);
    let entries: string[];
    try {
      entries = await readdir(dir);
    } catch {
      return;
    }
    let stopped = 0;
    for (const name of entries) {
      const root = path.join(dir, name);
      const info = await lstat(root).catch(() => null);
      if (!info) continue;
      if (info.isSymbolicLink()) {
        // The link of a claimed slot: needed while its instance runs, dangling once destroyed.
        if (!(await stat(root).catch(() => null))) await rm(root, { force: true });
        continue;
      }
      const warm = await readFile(path.join(root, WARM_FILE), 'utf8').then(
        (t) => JSON.parse(t) as { pid?: number },
        () => ({ pid: undefined }),
      );
      if (typeof warm.pid === 'number') await this.discard(root, warm.pid);
      else await rm(root, { recursive: true, force: true });
      stopped++;
    }
    if (stopped)
      this.deps.log('warn', `warm pool: removed ${stopped} slot(s) left by a previous portal`);
  }
}
