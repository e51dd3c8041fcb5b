import type { OperationRecord } from '../store/types';

const iso = (ms: number | undefined) => (ms === undefined ? undefined : new Date(ms).toISOString());

/** An operation as the API shows it: ISO times, lease details kept internal except the owner. */
export function toOperationView(op: OperationRecord) {
  return {
    id: op.id,
    interviewId: op.interviewId,
    type: op.type,
    status: op.status,
    scheduledAt: iso(op.scheduledAt),
    attempt: op.attempt,
    ...(op.owner && { owner: op.owner }),
    ...(op.cancelRequested && { cancelRequested: true }),
    createdAt: iso(op.createdAt),
    ...(op.startedAt && { startedAt: iso(op.startedAt) }),
    ...(op.finishedAt && { finishedAt: iso(op.finishedAt) }),
    ...(op.result && { result: op.result }),
    ...(op.error && { error: op.error }),
  };
}
