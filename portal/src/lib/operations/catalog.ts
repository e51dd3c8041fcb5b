import type { OperationRecord, OperationType } from '../store/types';
import type { OperationsConfig } from './config';
import { runCreate, runDestroy, type Handler } from './handlers';
import type { InterviewHooks } from './interview-hooks';

/** One operation type, declared once: what it runs, how often it may try, how it backs off. */
export interface OperationKind {
  handler: Handler;
  /** Attempts (claims that reached a verdict) before the operation is marked failed. */
  maxAttempts(config: OperationsConfig): number;
  /** Delay before the next attempt after attempt `attempt` (1-based) failed. */
  backoffMs(attempt: number): number;
  /**
   * How long before the requested time the operation is due. The engine stores
   * `scheduledAt = requested − lead` at enqueue, so the scheduler only compares with now.
   */
  leadMs(config: OperationsConfig): number;
  /** When several are due, lower runs first: destroys before creates (I2). */
  priority: number;
  /** After the final failure, best effort (the failure is already stored and logged). */
  onFailed?(hooks: InterviewHooks, op: OperationRecord, error: string): Promise<void>;
}

export type Catalog = Record<OperationType, OperationKind>;

const exponential = (baseMs: number, capMs: number) => (attempt: number) =>
  Math.min(capMs, baseMs * 2 ** Math.max(0, attempt - 1));

export const defaultCatalog: Catalog = {
  create: {
    handler: runCreate,
    maxAttempts: (c) => c.OPERATION_MAX_ATTEMPTS,
    backoffMs: exponential(1000, 30_000),
    leadMs: (c) => c.PROVISION_LEAD_SECONDS * 1000,
    priority: 1,
    onFailed: (hooks, op, error) => hooks.onStatus(op.interviewId, 'failed', { error }),
  },
  destroy: {
    handler: runDestroy,
    maxAttempts: (c) => c.OPERATION_MAX_ATTEMPTS,
    // Short: the deadline is law, and the grace is a minute by default.
    backoffMs: exponential(500, 10_000),
    leadMs: () => 0,
    priority: 0,
    onFailed: (hooks, op, error) =>
      hooks.onStatus(op.interviewId, 'failed', { error, phase: 'destroy' }),
  },
};
