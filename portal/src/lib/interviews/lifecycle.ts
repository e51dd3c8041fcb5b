import type { InstanceSpec } from '../drivers/driver';
import type { EventPublisher } from '../events/publisher';
import type { InterviewHooks } from '../operations/interview-hooks';
import type { InterviewStore } from '../store/interviews';
import {
  ENDING_INTERVIEW_STATUSES,
  type InterviewRecord,
  type InterviewStatus,
} from '../store/types';
import { toInterviewView } from './view';

/**
 * For each status an operation reports, the statuses it must not overwrite. Terminal states
 * never go back, and a late "ready" from a retried create never hides a teardown.
 */
const NOT_FROM: Record<InterviewStatus, InterviewStatus[]> = {
  scheduled: ['provisioning', 'ready', 'destroying', 'ended', 'failed', 'cancelled'],
  provisioning: ['ready', 'destroying', 'ended', 'failed', 'cancelled'],
  ready: ['destroying', 'ended', 'failed', 'cancelled'],
  destroying: ['ended', 'cancelled'],
  failed: ['destroying', 'ended', 'cancelled'],
  cancelled: ['ended', 'cancelled'],
  ended: ['ended'],
};

/** Extra instance options (e.g. the AI gateway token) a driver gets at create time. */
export type SpecOptions = (
  interview: InterviewRecord,
) => Promise<Record<string, unknown> | undefined>;

/** What the operations engine may ask of and tell the interviews (implements InterviewHooks). */
export class InterviewLifecycle implements InterviewHooks {
  constructor(
    private readonly deps: {
      store: InterviewStore;
      publisher: EventPublisher;
      specOptions?: SpecOptions;
      /** Called once an interview starts ending (destroying, ended, cancelled): e.g. revoke its AI access. */
      onEnding?: (interviewId: string) => Promise<void>;
      clock?: () => number;
    },
  ) {}

  async specFor(interviewId: string): Promise<InstanceSpec | null> {
    const interview = await this.deps.store.get(interviewId);
    if (!interview || interview.status === 'cancelled' || interview.status === 'ended') return null;
    const options = await this.deps.specOptions?.(interview);
    return {
      interviewId,
      challengeId: interview.challengeId,
      deadlineAt: interview.deadlineAt,
      ...(options && { options }),
    };
  }

  async onStatus(
    interviewId: string,
    status: InterviewStatus,
    details?: Record<string, unknown>,
  ): Promise<void> {
    const updated = await this.deps.store.setStatus(interviewId, status, {
      unless: NOT_FROM[status],
      ...(details && { instance: details }),
      now: (this.deps.clock ?? Date.now)(),
    });
    if (!updated) return; // an illegal or repeated transition: nothing changed
    if (ENDING_INTERVIEW_STATUSES.has(status)) await this.deps.onEnding?.(interviewId);
    await this.deps.publisher
      .global({
        type: 'interview.updated',
        interviewId,
        data: { ...toInterviewView(updated) },
      })
      .catch(() => {});
  }
}
