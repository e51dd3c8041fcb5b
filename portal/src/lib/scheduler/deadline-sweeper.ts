import type { OperationsEngine } from '../operations/engine';
import type { OperationRecord } from '../store/types';

/** A create operation whose interview's deadline has passed and whose destroy is not yet recorded. */
export interface DeadlineAction {
  createOperationId: string;
  interviewId: string;
  /** The deadline as seen; the clear is conditioned on it. */
  autoDestroyAt: number;
}

/**
 * Decides which deadlines are due (pure): create operations, in any status, whose
 * `autoDestroyAt` is at or before `now`, earliest first.
 */
export function dueDeadlines(creates: Iterable<OperationRecord>, now: number): DeadlineAction[] {
  const out: DeadlineAction[] = [];
  for (const op of creates) {
    if (op.type === 'create' && op.autoDestroyAt !== undefined && op.autoDestroyAt <= now) {
      out.push({
        createOperationId: op.id,
        interviewId: op.interviewId,
        autoDestroyAt: op.autoDestroyAt,
      });
    }
  }
  return out.sort((a, b) => a.autoDestroyAt - b.autoDestroyAt);
}

export interface SweepResult {
  destroy: OperationRecord;
  /** False when the destroy already existed (another scheduler, or a manual destroy). */
  created: boolean;
}

/**
 * Acts on one due deadline (I2), safe to run from any number of schedulers at once:
 * 1. enqueue the interview's destroy under its deterministic id (a conditional put: an existing
 *    one is fine, so there is exactly one destroy per interview);
 * 2. then clear `autoDestroyAt`, conditioned on the value seen.
 * In that order, so a crash in between repeats step 1 harmlessly instead of losing the destroy.
 * If the clear fails because the deadline was extended in between, the destroy we just
 * created is moved to the new deadline.
 */
export async function sweepDeadline(
  engine: OperationsEngine,
  action: DeadlineAction,
  now: number,
): Promise<SweepResult> {
  const { operation: destroy, created } = await engine.enqueue({
    type: 'destroy',
    interviewId: action.interviewId,
    scheduledAt: action.autoDestroyAt,
  });
  if (!(await engine.ops.clearAutoDestroy(action.createOperationId, action.autoDestroyAt))) {
    const current = await engine.ops.get(action.createOperationId, now);
    if (
      created &&
      current?.autoDestroyAt !== undefined &&
      current.autoDestroyAt > action.autoDestroyAt
    ) {
      await engine.ops.reschedule(destroy.id, {
        from: action.autoDestroyAt,
        to: current.autoDestroyAt,
        now,
      });
    }
  }
  return { destroy, created };
}
