import { rm, stat, unlink } from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';
import type {
  DestroyResult,
  DriverContext,
  InstanceDriver,
  InstanceInfo,
  InstanceSpec,
} from '../driver';
import type { Storage } from '../../storage/storage';
import { archiveKey, archiveWorkspace } from './archive';
import { layoutOf, MAX_SOCKET_PATH } from './layout';
import { probeHealth, spawnCodeServer, stopGroup } from './process';
import { InstanceRegistry, type InstanceState } from './registry';
import { locateRuntime, type IdeRuntime } from './runtime';
import { detectSandbox, type NetworkPolicy, type Sandbox, type SandboxSetting } from './sandbox';
import { fillWorkspace, prepareWorkspace } from './workspace';
import { writeInterviewFile } from './interview-file';
import { WarmPool, type WarmSlot } from './warm-pool';
import { SANDBOX_GATEWAY_URL, type GatewayBridge } from './gateway-bridge';

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
  /** Pre-started empty instances kept for creates (WARM_POOL_SIZE; 0 = none). See warm-pool.ts. */
  warmPoolSize?: number;
  /**
   * Serves the AI gateway to sandboxed instances without network (policy `none`); without it
   * such instances have no way out at all. See gateway-bridge.ts.
   */
  gatewayBridge?: GatewayBridge;
  /** Where the driver reports work of its own (the warm pool); operations log through ctx. */
  log?: (level: 'info' | 'warn' | 'error', message: string) => void;
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
  private pool?: WarmPool;

  constructor(private readonly deps: LocalDriverDeps) {
    this.registry = new InstanceRegistry(deps.dataDir);
    this.sandbox = detectSandbox(deps.sandbox ?? 'auto');
  }

  /**
   * Starts the warm pool (when `warmPoolSize` > 0): first stops slots a crashed portal left, then
   * fills in the background. Call once, from the process that runs creates.
   */
  async startWarmPool(): Promise<WarmPool | undefined> {
    const size = this.deps.warmPoolSize ?? 0;
    if (size <= 0 || this.pool) return this.pool;
    const log = this.deps.log ?? (() => {});
    this.pool = new WarmPool({
      dataDir: this.deps.dataDir,
      size,
      network: this.deps.network ?? 'none',
      readyTimeoutMs: this.deps.readyTimeoutMs ?? 30_000,
      log,
      spawn: async (layout) => {
        const { pid } = await spawnCodeServer({
          runtime: this.ide(),
          layout,
          sandbox: this.sandbox,
          network: this.deps.network ?? 'none',
        });
        return { pid };
      },
    });
    await this.pool.start();
    log('info', `warm pool: keeping ${size} instance(s) ready`);
    return this.pool;
  }

  /**
   * Re-attaches the gateway bridge of every running sandboxed instance without network: on
   * portal start, adopted instances get their way to the gateway back.
   */
  async attachGatewayBridges(): Promise<string[]> {
    const bridge = this.deps.gatewayBridge;
    if (!bridge) return [];
    const attached: string[] = [];
    for (const id of await this.registry.ids()) {
      const state = await this.registry.read(id);
      if (!state || state.sandbox !== 'bwrap' || state.network !== 'none') continue;
      if ((await this.registry.liveness(state)) === 'dead') continue;
      await bridge.attach(id, layoutOf(this.deps.dataDir, id).gatewaySocket);
      attached.push(id);
    }
    return attached;
  }

  /** Closes the gateway bridges (portal stop); instances keep running, the next start re-attaches. */
  async closeGatewayBridges(): Promise<void> {
    await this.deps.gatewayBridge?.close();
  }

  /** Stops every unclaimed warm instance under DATA_DIR, whoever started it (`npm run stop-all`). */
  async stopAllWarm(): Promise<void> {
    await new WarmPool({
      dataDir: this.deps.dataDir,
      size: 0,
      network: 'none',
      readyTimeoutMs: 0,
      log: this.deps.log ?? (() => {}),
      spawn: () => Promise.reject(new Error('unused')),
    }).start();
  }

  /** Stops the warm pool's unclaimed instances (graceful portal stop); live instances keep running. */
  async stopWarmPool(): Promise<void> {
    await this.pool?.close();
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
    this.runtime ??= locateRuntime({
      runtimeDir: this.deps.runtimeDir,
      extensionsDir: this.deps.extensionsDir,
    });
    return this.runtime;
  }

  private async doCreate(spec: InstanceSpec, ctx: DriverContext): Promise<InstanceInfo> {
    const started = Date.now();
    const parsed = optionsSchema.safeParse(spec.options ?? {});
    if (!parsed.success)
      throw new Error(
        `invalid instance options: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`,
      );
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
    // A warm instance only for a brand-new interview: an existing folder holds the candidate's work.
    const warm = !(await exists(layout.root))
      ? this.pool?.take(options.network ?? this.deps.network ?? 'none')
      : undefined;
    if (warm) return this.claimWarm(warm, spec, options, challengeDir, runtime, ctx, started);
    const { seeded } = await prepareWorkspace(layout, challengeDir);
    ctx.log(
      'info',
      seeded
        ? `workspace seeded from challenge ${spec.challengeId}`
        : 'reusing the existing workspace',
    );
    await unlink(layout.socket).catch(() => {});
    if (this.sandbox.kind === 'none' && this.sandbox.warning) ctx.log('warn', this.sandbox.warning);

    const network = options.network ?? this.deps.network ?? 'none';
    const gateway = this.gatewayFor(network, options);
    await writeInterviewFile(layout, {
      interviewId: spec.interviewId,
      ...(gateway && { gatewayUrl: gateway.url, gatewayToken: gateway.token }),
    });
    if (this.bridged(network))
      await this.deps.gatewayBridge!.attach(spec.interviewId, layout.gatewaySocket);
    const { pid } = await spawnCodeServer({
      interviewId: spec.interviewId,
      runtime,
      layout,
      sandbox: this.sandbox,
      network,
      gateway,
    });
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
    ctx.log(
      'info',
      `code-server ${runtime.codeServerVersion} started (pid ${pid}, sandbox ${state.sandbox}, network ${network})`,
    );
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

  /**
   * Turns a warm slot into this interview's instance: the challenge's files go into its (empty,
   * already served) workspace, its interview file and state file are written inside the slot, and
   * the slot folder is renamed to the interview's — one rename, so a crash leaves either a slot
   * the next pool start removes, or a complete instance the next create adopts.
   */
  private async claimWarm(
    warm: WarmSlot,
    spec: InstanceSpec,
    options: z.output<typeof optionsSchema>,
    challengeDir: string,
    runtime: IdeRuntime,
    ctx: DriverContext,
    started: number,
  ): Promise<InstanceInfo> {
    const layout = layoutOf(this.deps.dataDir, spec.interviewId);
    ctx.log(
      'info',
      `claiming warm instance ${warm.slot} (pid ${warm.pid}, started ${Math.round((Date.now() - warm.startedAt) / 1000)} s ago)`,
    );
    const state: InstanceState = {
      v: 1,
      interviewId: spec.interviewId,
      challengeId: spec.challengeId,
      deadlineAt: spec.deadlineAt,
      pid: warm.pid,
      socket: layout.socket,
      sandbox: this.sandbox.kind,
      network: warm.network,
      startedAt: warm.startedAt,
      codeServerVersion: runtime.codeServerVersion,
      spawnRoot: warm.layout.root,
    };
    try {
      await fillWorkspace(warm.layout.workspace, challengeDir);
      const gateway = this.gatewayFor(warm.network, options);
      await writeInterviewFile(warm.layout, {
        interviewId: spec.interviewId,
        ...(gateway && { gatewayUrl: gateway.url, gatewayToken: gateway.token }),
      });
      await this.registry.write(state, warm.layout.stateFile);
      await WarmPool.moveTo(warm, layout.root);
      if (this.bridged(warm.network))
        await this.deps.gatewayBridge!.attach(spec.interviewId, layout.gatewaySocket);
    } catch (e) {
      if (!(await exists(layout.root))) await this.pool!.discardTaken(warm);
      throw e;
    }
    ctx.log('info', `workspace seeded from challenge ${spec.challengeId}`);
    try {
      await this.waitReady(state, ctx);
    } catch (e) {
      if (!ctx.signal.aborted) await stopGroup(warm.pid).catch(() => {});
      throw e;
    }
    const readyMs = Date.now() - started;
    ctx.log('info', `IDE ready in ${readyMs} ms (warm pool)`);
    return this.info(state, 'ready', { adopted: false, warm: true, readyMs });
  }

  /** Only a sandbox with its own network namespace needs (and can use) the bridge. */
  private bridged(network: NetworkPolicy): boolean {
    return (
      this.sandbox.kind === 'bwrap' && network === 'none' && this.deps.gatewayBridge !== undefined
    );
  }

  /**
   * What the instance is told about its gateway. Without network it is the in-sandbox forwarder
   * (whatever URL the create named is unreachable from there); otherwise the URL given.
   */
  private gatewayFor(
    network: NetworkPolicy,
    options: z.output<typeof optionsSchema>,
  ): { url: string; token: string } | undefined {
    if (!options.gatewayToken) return undefined;
    if (this.bridged(network)) return { url: SANDBOX_GATEWAY_URL, token: options.gatewayToken };
    return options.gatewayUrl
      ? { url: options.gatewayUrl, token: options.gatewayToken }
      : undefined;
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
          throw new Error(
            `code-server exited during startup (see ${layoutOf(this.deps.dataDir, state.interviewId).logFile})`,
          );
        }
        if (Date.now() > until) throw new Error(`${what} did not answer within ${timeoutMs} ms`);
        await new Promise((r) => setTimeout(r, 50));
      }
    };
    await wait('code-server /healthz', () => probeHealth(state.socket, 500));
    const checkProxy = this.deps.checkProxy;
    if (checkProxy)
      await wait('the portal proxy', () => checkProxy(state.interviewId).catch(() => false));
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
    await this.deps.gatewayBridge?.detach(interviewId);
    // A claimed warm slot left a symlink at its pool path (only meaningful while it ran).
    if (state?.spawnRoot && path.dirname(state.spawnRoot) !== path.dirname(layout.root))
      await unlink(state.spawnRoot).catch(() => {});
    if (archive && 'error' in archive) {
      // Keep the workspace (nothing lost, I3) but mark the instance stopped.
      await rm(layout.stateFile, { force: true });
    } else {
      await rm(layout.root, { recursive: true, force: true });
    }
    return archive ? { archive } : {};
  }

  private info(
    state: InstanceState,
    s: InstanceInfo['state'],
    extra: Record<string, unknown> = {},
  ): InstanceInfo {
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
    void next
      .finally(() => {
        if (this.locks.get(id) === next) this.locks.delete(id);
      })
      .catch(() => {});
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
