import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { appendFile, readdir, unlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type {
  DestroyResult,
  DriverContext,
  InstanceDriver,
  InstanceInfo,
  InstanceSpec,
} from '@/lib/drivers/driver';

/** One line of the fake driver's record file. */
export interface FakeEffect {
  /**
   * `*-call`: the driver was called (one per execution attempt). `create`/`destroy`: a real side
   * effect happened. `adopt`/`destroy-missing`: the call found the work already done
   * (idempotence). `aborted`: the call saw its AbortSignal.
   */
  kind:
    'create-call' | 'create' | 'adopt' | 'destroy-call' | 'destroy' | 'destroy-missing' | 'aborted';
  interviewId: string;
  pid: number;
  at: number;
}

export interface FakeDriverOptions {
  /** Append-only JSON lines, shared by every process given the same path. */
  recordFile: string;
  /** How long create and destroy take (their instance exists from the start of a create). */
  createMs?: number;
  destroyMs?: number;
  /** Makes a call fail (e.g. to exercise retries): return the error to throw. */
  fail?: (call: {
    kind: 'create' | 'destroy';
    interviewId: string;
    calls: number;
  }) => Error | undefined;
}

/**
 * The instance driver of the engine tests: a real implementation whose "instances" are marker
 * files (an exclusive create is the atomic, cross-process "does it exist?") and whose side
 * effects are appended to a record file, so separate processes share both. Idempotent like
 * every driver: create adopts an existing instance, destroy of a missing one succeeds. Honours
 * the AbortSignal while it "works".
 */
export class FakeDriver implements InstanceDriver {
  readonly name = 'fake';
  private readonly dir: string;
  private readonly calls = new Map<string, number>();

  constructor(private readonly opts: FakeDriverOptions) {
    this.dir = `${opts.recordFile}.instances`;
    mkdirSync(this.dir, { recursive: true });
  }

  async create(spec: InstanceSpec, ctx: DriverContext): Promise<InstanceInfo> {
    const id = spec.interviewId;
    await this.record('create-call', id);
    this.maybeFail('create', id);
    let created = true;
    try {
      // The instance's options (e.g. the AI gateway URL and token) are kept in its marker, where
      // a test reads them as the candidate's IDE would receive them (readFakeInstance).
      const marker: FakeInstance = {
        pid: process.pid,
        ...(spec.options && { options: spec.options }),
      };
      await writeFile(this.marker(id), JSON.stringify(marker), { flag: 'wx' });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      created = false;
    }
    await this.record(created ? 'create' : 'adopt', id);
    ctx.log('info', created ? 'fake instance created' : 'fake instance adopted');
    await this.work(this.opts.createMs ?? 0, ctx.signal, id);
    return { interviewId: id, state: 'ready', details: { driver: 'fake' } };
  }

  async destroy(interviewId: string, ctx: DriverContext): Promise<DestroyResult> {
    await this.record('destroy-call', interviewId);
    this.maybeFail('destroy', interviewId);
    await this.work(this.opts.destroyMs ?? 0, ctx.signal, interviewId);
    try {
      await unlink(this.marker(interviewId));
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
      await this.record('destroy-missing', interviewId);
      return {};
    }
    await this.record('destroy', interviewId);
    return { archive: { key: `fake/${interviewId}.tar`, bytes: 0 } };
  }

  async status(interviewId: string): Promise<InstanceInfo | null> {
    return existsSync(this.marker(interviewId)) ? { interviewId, state: 'ready' } : null;
  }

  async list(): Promise<InstanceInfo[]> {
    return (await readdir(this.dir)).map((f) => ({
      interviewId: decodeURIComponent(f),
      state: 'ready' as const,
    }));
  }

  private async work(ms: number, signal: AbortSignal, interviewId: string): Promise<void> {
    try {
      signal.throwIfAborted();
      if (ms > 0) await sleep(ms, undefined, { signal });
    } catch (e) {
      await this.record('aborted', interviewId);
      throw e;
    }
  }

  private maybeFail(kind: 'create' | 'destroy', interviewId: string): void {
    const key = `${kind}:${interviewId}`;
    const calls = (this.calls.get(key) ?? 0) + 1;
    this.calls.set(key, calls);
    const err = this.opts.fail?.({ kind, interviewId, calls });
    if (err) throw err;
  }

  private marker(interviewId: string): string {
    return path.join(this.dir, encodeURIComponent(interviewId));
  }

  /** One small O_APPEND write per line: atomic across processes sharing the file. */
  private async record(kind: FakeEffect['kind'], interviewId: string): Promise<void> {
    const line: FakeEffect = { kind, interviewId, pid: process.pid, at: Date.now() };
    await appendFile(this.opts.recordFile, JSON.stringify(line) + '\n');
  }
}

/** What a fake instance's marker file holds. */
export interface FakeInstance {
  /** The process that created the instance. */
  pid: number;
  /** `spec.options` as the driver received them at create. */
  options?: Record<string, unknown>;
}

/** A live fake instance's marker (null when it does not exist, e.g. after destroy). */
export function readFakeInstance(recordFile: string, interviewId: string): FakeInstance | null {
  const file = path.join(`${recordFile}.instances`, encodeURIComponent(interviewId));
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as FakeInstance;
  } catch (e) {
    // Absent, or caught between the exclusive create and the write of its content.
    if ((e as NodeJS.ErrnoException).code === 'ENOENT' || e instanceof SyntaxError) return null;
    throw e;
  }
}

/** Every complete line recorded so far in a fake driver's record file. */
export function readFakeRecord(recordFile: string): FakeEffect[] {
  if (!existsSync(recordFile)) return [];
  const text = readFileSync(recordFile, 'utf8');
  // A line being appended right now may be read half-written: only complete lines count.
  return text
    .slice(0, text.lastIndexOf('\n') + 1)
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as FakeEffect);
}

/** How many times each interview saw an effect of `kind`. */
export function countBy(effects: FakeEffect[], kind: FakeEffect['kind']): Map<string, number> {
  const m = new Map<string, number>();
  for (const e of effects)
    if (e.kind === kind) m.set(e.interviewId, (m.get(e.interviewId) ?? 0) + 1);
  return m;
}
