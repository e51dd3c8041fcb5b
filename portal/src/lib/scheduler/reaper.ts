import type { EventPublisher } from '../events/publisher';
import { announce } from '../operations/announce';
import type { Catalog } from '../operations/catalog';
import type { Clock } from '../operations/clock';
import type { OperationsConfig } from '../operations/config';
import type { InterviewHooks } from '../operations/interview-hooks';
import { LogWriter } from '../operations/log-writer';
import type { OpsLogger } from '../operations/runner';
import type { OperationLogStore } from '../store/operation-logs';
import { expiresAtFor, type OperationStore } from '../store/operations';
import type { OperationRecord } from '../store/types';

/**
 * Whether an operation the scheduler could pick up has no attempts left (pure). Expired leases
 * with attempts left are NOT reaped: the normal claim resumes them (attempt + 1).
 */
export function isExhausted(
  op: OperationRecord,
  catalog: Catalog,
  config: OperationsConfig,
): boolean {
  return op.attempt >= catalog[op.type].maxAttempts(config);
}

export interface ReaperDeps {
  ops: OperationStore;
  logs: OperationLogStore;
  publisher: EventPublisher;
  hooks: InterviewHooks;
  catalog: Catalog;
  config: OperationsConfig;
  clock: Clock;
  logger: OpsLogger;
  owner: string;
}

/**
 * Fails operations whose attempts are exhausted (typically: their runner died on the last
 * attempt). It takes the lease from the exact version seen without counting an attempt, writes
 * the reason into the operation's log, then commits `failed` conditioned on owner + version.
 */
export class Reaper {
  constructor(private readonly deps: ReaperDeps) {}

  /** True when this call failed the operation; false when someone else changed it first. */
  async reap(op: OperationRecord, now: number): Promise<boolean> {
    const { deps } = this;
    const max = deps.catalog[op.type].maxAttempts(deps.config);
    const held = await deps.ops.takeOver(op.id, {
      owner: deps.owner,
      now,
      leaseMs: deps.config.LEASE_MS,
      version: op.version,
    });
    if (!held) return false;
    const reason =
      op.status === 'running'
        ? `attempt ${op.attempt} of ${max}: runner ${op.owner ?? '?'} stopped renewing its lease; no attempts left`
        : `no attempts left (${op.attempt} of ${max})`;
    const until = held.leaseUntil ?? now;
    const writer = await LogWriter.resume({
      store: deps.logs,
      publisher: deps.publisher,
      operationId: op.id,
      clock: deps.clock,
      canWrite: () => deps.clock.now() < until - deps.config.LEASE_MS / 10,
    });
    writer.emit({ kind: 'log', level: 'error', message: reason });
    const done = await deps.ops.finish(op.id, {
      owner: deps.owner,
      version: held.version,
      status: 'failed',
      now,
      expiresAt: expiresAtFor(held, now),
      error: reason,
    });
    if (!done) {
      writer.discard();
      return false;
    }
    writer.setCanWrite(() => true);
    writer.emit({ kind: 'status', status: 'failed', message: reason });
    writer.emit({ kind: 'end', status: 'failed', message: reason });
    await writer.close();
    announce(deps.publisher, done, deps.logger);
    deps.logger.warn({ operationId: op.id, reason }, 'operation reaped');
    await deps.catalog[op.type]
      .onFailed?.(deps.hooks, done, reason)
      .catch((err: unknown) =>
        deps.logger.warn({ err, operationId: op.id }, 'onFailed hook failed'),
      );
    return true;
  }
}
