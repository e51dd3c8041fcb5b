import type { InstanceSpec } from '../drivers/driver';
import type { InterviewStatus } from '../store/types';

/**
 * The subset of the interview service the operation handlers need (the engine never reads the
 * interviews table itself). The lead's interview service implements it; tests use
 * MemoryInterviewHooks.
 */
export interface InterviewHooks {
  /** What the driver needs to provision the interview; null when the interview no longer exists. */
  specFor(interviewId: string): Promise<InstanceSpec | null>;
  /**
   * The interview's instance changed state (provisioning, ready, destroying, ended, failed).
   * Called again on retries, so it must be idempotent, and it should ignore transitions that
   * make no sense for the interview's current status (e.g. ended → ready, cancelled → destroying).
   */
  onStatus(
    interviewId: string,
    status: InterviewStatus,
    details?: Record<string, unknown>,
  ): Promise<void>;
}

export interface RecordedStatus {
  status: InterviewStatus;
  details?: Record<string, unknown>;
  at: number;
}

/**
 * In-memory InterviewHooks for tests and benchmarks. With `anyInterview`, every id has a spec
 * (processes that share no interview data); otherwise only ids added with `add`.
 */
export class MemoryInterviewHooks implements InterviewHooks {
  readonly specs = new Map<string, InstanceSpec>();
  readonly statuses = new Map<string, RecordedStatus[]>();

  constructor(private readonly opts: { anyInterview?: boolean } = {}) {}

  add(spec: InstanceSpec): this {
    this.specs.set(spec.interviewId, spec);
    return this;
  }

  remove(interviewId: string): void {
    this.specs.delete(interviewId);
  }

  async specFor(interviewId: string): Promise<InstanceSpec | null> {
    const spec = this.specs.get(interviewId);
    if (spec) return spec;
    if (!this.opts.anyInterview) return null;
    return { interviewId, challengeId: 'test', deadlineAt: Date.now() + 3600_000 };
  }

  async onStatus(
    interviewId: string,
    status: InterviewStatus,
    details?: Record<string, unknown>,
  ): Promise<void> {
    const list = this.statuses.get(interviewId) ?? [];
    list.push({ status, ...(details && { details }), at: Date.now() });
    this.statuses.set(interviewId, list);
  }

  lastStatus(interviewId: string): InterviewStatus | undefined {
    return this.statuses.get(interviewId)?.at(-1)?.status;
  }
}
