import { rm, stat, unlink } from 'node:fs/promises';
import { z } from 'zod';
import type { DestroyResult, DriverContext, InstanceDriver, InstanceInfo, InstanceSpec } from '../driver';
import type { Storage } from '../../storage/storage';
import { archiveKey, archiveWorkspace } from './archive';
import { layoutOf, MAX_SOCKET_PATH } from './layout';
import { probeHealth, spawnCodeServer, stopGroup } from './process';
import { InstanceRegistry, type InstanceState } from './registry';
import { locateRuntime, type IdeRuntime } from './runtime';
import { detectSandbox, type NetworkPolicy, type Sandbox, type SandboxSetting } from './sandbox';
import { prepareWorkspace } from './workspace';

export interface LocalDriverDeps {
  /** DATA_DIR: instances live under DATA_DIR/instances/<interviewId>/. */
  dataDir: string;
  /** RUNTIME_DIR / EXTENSIONS_DIR (defaults: `<repo>/.cache/runtime`, `<runtime>/extensions`). */
  runtimeDir?: string;
  extensionsDir?: string;
  /** Finds a challenge's folder (ChallengeCatalog fits). */
  challenges: { dirOf(id: string): Promise<string | null> };
  storage: Storage;
  sandbox?: SandboxSetting;
  /** Default network policy; an interview may override it with `options.network`. */
  network?: NetworkPolicy;
  archiveMaxBytes?: number;
  readyTimeoutMs?: number;
  /**
   * End-to-end readiness: resolves true once a request through the portal's proxy reaches the
   * instance (e.g. GET <portal>/i/<id>/healthz). Without it, ready = /healthz on the socket.
   */
  checkProxy?: (interviewId: string) => Promise<boolean>;
}

/** What a create may carry in `spec.options` (validated here; unknown keys are ignored). */
const optionsSchema = z.looseObject({
  network: z.enum(['none', 'host']).optional(),
  gatewayUrl: z.url().optional(),
  gatewayToken: z.string().min(1).max(4096).optional(),
});

/**
 * The `local` instance driver: one code-server process (in bubblewrap where installed) per
 * interview, served on a unix socket behind the portal's /i/<id>/ proxy.
 *
 * Idempotent and restart-safe: `create` adopts a live instance (its state file under
 * DATA_DIR/instances/<id>/ names the pid and socket), restarts a dead one on its existing
 * workspace, and only seeds a workspace that does not exist yet. `destroy` archives the workspace
 * (retried) and then stops the whole process group; it succeeds for a missing instance and, when
 * the archive exists from an earlier destroy, reports it again. One call at a time per interview
 * in this process; across processes the operations engine's lease serializes calls.
 */
export class LocalDriver implements InstanceDriver {
  readonly name = 'local';
  readonly registry: InstanceRegistry;
  private readonly sandbox: Sandbox;
  private runtime?: IdeRuntime;
  private readonly locks = new Map<string, Promise<unknown>>();

  constructor(private readonly deps: LocalDriverDeps) {
    this.registry = new InstanceRegistry(deps.dataDir);
    this.sandbox = detectSandbox(deps.sandbox ?? 'auto');
  }

  /** Degradations for /api/health (no sandbox, runtime missing). */
  warnings(): string[] {
    const out: string[] = [];
    if (this.sandbox.kind === 'none' && this.sandbox.warning) out.push(this.sandbox.warning);
    try {
      this.ide();
    } catch (e) {
      out.push((e as Error).message);
    }
    return out;
  }

  get sandboxKind(): 'bwrap' | 'none' {
    return this.sandbox.kind;
  }

  /** Host path of the instance's socket when its process is alive (the proxy's target). */
  async socketOf(interviewId: string): Promise<string | null> {
    const state = await this.registry.read(interviewId);
    if (!state) return null;
    return (await this.registry.liveness(state)) === 'dead' ? null : state.socket;
  }

  create(spec: InstanceSpec, ctx: DriverContext): Promise<InstanceInfo> {
    return this.exclusive(spec.interviewId, () => this.doCreate(spec, ctx));
  }

  destroy(interviewId: string, ctx: DriverContext): Promise<DestroyResult> {
    return this.exclusive(interviewId, () => this.doDestroy(interviewId, ctx));
  }

  async status(interviewId: string): Promise<InstanceInfo | null> {
    const state = await this.registry.read(interviewId);
    if (!state) return null;
    const live = await this.registry.liveness(state);
    return this.info(state, live === 'dead' ? 'stopped' : live);
  }

  /** Instances whose process is alive (ready or starting). */
  async list(): Promise<InstanceInfo[]> {
    const infos = await Promise.all((await this.registry.ids()).map((id) => this.status(id)));
    return infos.filter((i): i is InstanceInfo => i !== null && i.state !== 'stopped');
  }

  private ide(): IdeRuntime {
    this.runtime ??= locateRuntime({ runtimeDir: this.deps.runtimeDir, extensionsDir: this.deps.extensionsDir });
    return this.runtime;
  }

  private async doCreate(spec: InstanceSpec, ctx: DriverContext): Promise<InstanceInfo> {
    const started = Date.now();
    const parsed = optionsSchema.safeParse(spec.options ?? {});
    if (!parsed.success) throw new Error(`invalid instance options: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
    const options = parsed.data;
    const layout = layoutOf(this.deps.dataDir, spec.interviewId);

    const existing = await this.registry.read(spec.interviewId);
    if (existing) {
      const live = await this.registry.liveness(existing);
      if (live !== 'dead') {
        ctx.log('info', `adopting the running instance (pid ${existing.pid})`);
        await this.waitReady(existing, ctx);
        return this.info(existing, 'ready', { adopted: true, readyMs: Date.now() - started });
      }
      ctx.log('warn', 'the previous instance is not running: starting it again on its workspace');
    }

    const runtime = this.ide();
    const challengeDir = await this.deps.challenges.dirOf(spec.challengeId);
    if (!challengeDir) throw new Error(`unknown challenge ${spec.challengeId}`);
    if (Buffer.byteLength(layout.socket) > MAX_SOCKET_PATH) {
      throw new Error(`socket path too long (${layout.socket}): use a shorter DATA_DIR`);
    }
    const { seeded } = await prepareWorkspace(layout, challengeDir);
    ctx.log('info', seeded ? `workspace seeded from challenge ${spec.challengeId}` : 'reusing the existing workspace');
    await unlink(layout.socket).catch(() => {});
    if (this.sandbox.kind === 'none' && this.sandbox.warning) ctx.log('warn', this.sandbox.warning);

    const network = options.network ?? this.deps.network ?? 'none';
    const gateway = options.gatewayUrl && options.gatewayToken ? { url: options.gatewayUrl, token: options.gatewayToken } : undefined;
    const { pid } = await spawnCodeServer({ interviewId: spec.interviewId, runtime, layout, sandbox: this.sandbox, network, gateway });
    const state: InstanceState = {
      v: 1,
      interviewId: spec.interviewId,
      challengeId: spec.challengeId,
      deadlineAt: spec.deadlineAt,
      pid,
      socket: layout.socket,
      sandbox: this.sandbox.kind,
      network,
      startedAt: Date.now(),
      codeServerVersion: runtime.codeServerVersion,
    };
    await this.registry.write(state);
    ctx.log('info', `code-server ${runtime.codeServerVersion} started (pid ${pid}, sandbox ${state.sandbox}, network ${network})`);
    try {
      await this.waitReady(state, ctx);
    } catch (e) {
      if (!ctx.signal.aborted) await stopGroup(pid).catch(() => {});
      throw e;
    }
    const readyMs = Date.now() - started;
    ctx.log('info', `IDE ready in ${readyMs} ms`);
    return this.info(state, 'ready', { adopted: false, readyMs });
  }

  /** Waits for /healthz on the socket, then (if configured) for a request through the proxy. */
  private async waitReady(state: InstanceState, ctx: DriverContext): Promise<void> {
    const timeoutMs = this.deps.readyTimeoutMs ?? 30_000;
    const until = Date.now() + timeoutMs;
    const wait = async (what: string, check: () => Promise<boolean>) => {
      for (;;) {
        ctx.signal.throwIfAborted();
        if (await check()) return;
        if ((await this.registry.liveness(state)) === 'dead') {
          throw new Error(`code-server exited during startup (see ${layoutOf(this.deps.dataDir, state.interviewId).logFile})`);
        }
        if (Date.now() > until) throw new Error(`${what} did not answer within ${timeoutMs} ms`);
        await new Promise((r) => setTimeout(r, 50));
      }
    };
    await wait('code-server /healthz', () => probeHealth(state.socket, 500));
    const checkProxy = this.deps.checkProxy;
    if (checkProxy) await wait('the portal proxy', () => checkProxy(state.interviewId).catch(() => false));
  }

  private async doDestroy(interviewId: string, ctx: DriverContext): Promise<DestroyResult> {
    const layout = layoutOf(this.deps.dataDir, interviewId);
    if (!(await exists(layout.root))) {
      const previous = await this.deps.storage.head(archiveKey(interviewId));
      ctx.log('info', 'no instance to destroy');
      return previous ? { archive: { key: previous.key, bytes: previous.bytes } } : {};
    }
    let archive: DestroyResult['archive'];
    if (await exists(layout.workspace)) {
      try {
        archive = await archiveWorkspace({
          interviewId,
          workspace: layout.workspace,
          storage: this.deps.storage,
          maxBytes: this.deps.archiveMaxBytes ?? 200 * 1024 ** 2,
          log: (m) => ctx.log('warn', m),
        });
        ctx.log('info', `workspace archived (${archive.bytes} bytes) to ${archive.key}`);
      } catch (e) {
        archive = { error: (e as Error).message };
        ctx.log('error', `archive failed: ${(e as Error).message}; the workspace is kept on disk`);
      }
    }
    const state = await this.registry.read(interviewId);
    if (state && (await this.registry.liveness(state)) !== 'dead') {
      await stopGroup(state.pid);
      ctx.log('info', `code-server stopped (process group ${state.pid})`);
    }
    if (archive && 'error' in archive) {
      // Keep the workspace (nothing lost, I3) but mark the instance stopped.
      await rm(layout.stateFile, { force: true });
    } else {
      await rm(layout.root, { recursive: true, force: true });
    }
    return archive ? { archive } : {};
  }

  private info(state: InstanceState, s: InstanceInfo['state'], extra: Record<string, unknown> = {}): InstanceInfo {
    return {
      interviewId: state.interviewId,
      state: s,
      details: {
        pid: state.pid,
        sandbox: state.sandbox,
        network: state.network,
        startedAt: state.startedAt,
        codeServerVersion: state.codeServerVersion,
        ...extra,
      },
    };
  }

  private exclusive<T>(id: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.locks.get(id) ?? Promise.resolve();
    const next = prev.catch(() => {}).then(fn);
    this.locks.set(id, next);
    void next.finally(() => {
      if (this.locks.get(id) === next) this.locks.delete(id);
    }).catch(() => {});
    return next;
  }
}

async function exists(p: string): Promise<boolean> {
  try {
    await stat(p);
    return true;
  } catch {
    return false;
  }
}

/** Builds the local driver (see LocalDriverDeps); `warnings()` feeds /api/health. */
export function createLocalDriver(deps: LocalDriverDeps): LocalDriver {
  return new LocalDriver(deps);
}
