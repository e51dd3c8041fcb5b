import type { EventPublisher } from '../events/publisher';
import type { OperationRecord } from '../store/types';

export interface WarnLogger {
  warn(obj: object, msg?: string): void;
}

/**
 * Tells dashboards an operation changed (`operation.updated`). Called only after the change is
 * stored; best effort: a failure is logged, never thrown (the log is the durable record).
 */
export function announce(publisher: EventPublisher, op: OperationRecord, log?: WarnLogger): void {
  publisher
    .global({
      type: 'operation.updated',
      interviewId: op.interviewId,
      operationId: op.id,
      data: {
        id: op.id,
        interviewId: op.interviewId,
        type: op.type,
        status: op.status,
        attempt: op.attempt,
        scheduledAt: op.scheduledAt,
        ...(op.error !== undefined && { error: op.error }),
      },
    })
    .catch((err: unknown) =>
      log?.warn({ err, operationId: op.id }, 'operation.updated not published'),
    );
}
