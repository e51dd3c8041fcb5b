import { setTimeout as sleep } from 'node:timers/promises';
import type { InstanceDriver } from '../drivers/driver';
import {
  isTerminal,
  type LogLevel,
  type OperationRecord,
  type OperationType,
} from '../store/types';
import type { Clock } from './clock';
import type { InterviewHooks } from './interview-hooks';

/** What a handler may do to other operations (the engine implements it). */
export interface OperationControl {
  get(id: string): Promise<OperationRecord | null>;
  byInterview(interviewId: string, type?: OperationType): Promise<OperationRecord[]>;
  /** Cancels a queued operation at once, or asks a running one to stop. */
  cancel(id: string, reason?: string): Promise<{ operation: OperationRecord; outcome: string }>;
}

/** Everything a handler gets for one attempt of one claimed operation. */
export interface HandlerContext {
  op: OperationRecord;
  /** Aborted on cancel, lost lease or shutdown: stop and throw (or return) promptly. */
  signal: AbortSignal;
  /** Appends to the operation's log (stored, then streamed to watchers). */
  log(level: LogLevel, message: string, data?: Record<string, unknown>): void;
  driver: InstanceDriver;
  hooks: InterviewHooks;
  control: OperationControl;
  clock: Clock;
  leaseMs: number;
}

export type HandlerResult =
  | { status: 'completed'; result?: Record<string, unknown> }
  | { status: 'cancelled'; reason: string };

export type Handler = (ctx: HandlerContext) => Promise<HandlerResult>;

/** Thrown by a handler for failures a retry cannot fix: the operation fails at once. */
export class PermanentError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PermanentError';
  }
}

const driverContext = (ctx: HandlerContext) => ({
  signal: ctx.signal,
  log: (level: LogLevel, message: string) => ctx.log(level, message),
});

/**
 * create: provisions the interview's instance. The driver adopts an instance that already
 * exists, so a resumed attempt (after a dead runner) repeats no side effect.
 */
export const runCreate: Handler = async (ctx) => {
  const { op, hooks, driver } = ctx;
  const spec = await hooks.specFor(op.interviewId);
  if (!spec) return { status: 'cancelled', reason: 'interview not found' };
  await hooks.onStatus(op.interviewId, 'provisioning');
  ctx.log('info', `provisioning with the ${driver.name} driver`);
  const info = await driver.create(spec, driverContext(ctx));
  ctx.signal.throwIfAborted();
  await hooks.onStatus(op.interviewId, 'ready', info.details);
  ctx.log('info', `instance ${info.state}`);
  return { status: 'completed', result: { instance: info } };
};

/**
 * destroy: stops the interview's create (cancels a queued one; asks a running one to stop and
 * waits, bounded, for it to end), then destroys the instance (archiving the workspace) and
 * records the archive result. An archive failure is logged at error level and returned in the
 * result, never silent (I3).
 */
export const runDestroy: Handler = async (ctx) => {
  const { op, hooks, driver } = ctx;
  await hooks.onStatus(op.interviewId, 'destroying');
  await stopCreates(ctx);
  ctx.log('info', `destroying the instance with the ${driver.name} driver`);
  const { archive } = await driver.destroy(op.interviewId, driverContext(ctx));
  if (archive && 'error' in archive) ctx.log('error', `archive failed: ${archive.error}`);
  else if (archive) ctx.log('info', `workspace archived (${archive.bytes} bytes)`);
  else ctx.log('info', 'nothing to archive');
  await hooks.onStatus(op.interviewId, 'ended', archive ? { archive } : undefined);
  return { status: 'completed', result: archive ? { archive } : {} };
};

async function stopCreates(ctx: HandlerContext): Promise<void> {
  const { control, op, clock } = ctx;
  let live = (await control.byInterview(op.interviewId, 'create')).filter(
    (c) => !isTerminal(c.status),
  );
  for (const c of live) {
    try {
      const r = await control.cancel(c.id, 'interview is being destroyed');
      ctx.log('info', `create ${c.id}: ${r.outcome}`);
    } catch {
      // It became terminal in between: nothing to stop.
    }
  }
  // A running create sees the cancel within one heartbeat; a dead one when its lease expires
  // and the next claimer finds cancelRequested. Wait that long at most, then destroy anyway:
  // the destroy is idempotent and the reconciler removes anything a late create leaves.
  const until = clock.now() + 2 * ctx.leaseMs + 1000;
  const every = Math.min(250, Math.max(20, Math.floor(ctx.leaseMs / 6)));
  while (live.length > 0 && clock.now() < until) {
    await sleep(every, undefined, { signal: ctx.signal });
    const now = await Promise.all(live.map((c) => control.get(c.id)));
    live = now.filter((c): c is OperationRecord => c !== null && !isTerminal(c.status));
  }
  for (const c of live) ctx.log('warn', `create ${c.id} still ${c.status}; destroying anyway`);
}
