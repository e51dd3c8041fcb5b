/**
 * The stored shapes. Times are epoch milliseconds (numbers sort and compare in key conditions);
 * the HTTP API renders them as ISO strings.
 */

export type OperationType = 'create' | 'destroy';
export type OperationStatus =
  'pending' | 'scheduled' | 'running' | 'completed' | 'failed' | 'cancelled';
export const QUEUED_STATUSES = ['pending', 'scheduled'] as const;
export const TERMINAL_STATUSES = ['completed', 'failed', 'cancelled'] as const;
export const isTerminal = (s: OperationStatus) =>
  (TERMINAL_STATUSES as readonly string[]).includes(s);

export interface OperationRecord {
  id: string;
  interviewId: string;
  type: OperationType;
  status: OperationStatus;
  /** When the operation is due (a create is due `PROVISION_LEAD_SECONDS` before the interview starts). */
  scheduledAt: number;
  /** On create operations: the interview's deadline, until its destroy operation exists (sparse GSI). */
  autoDestroyAt?: number;
  /** Lease: who runs it and until when; every write by the runner is conditioned on owner + version. */
  owner?: string;
  leaseUntil?: number;
  attempt: number;
  version: number;
  cancelRequested?: boolean;
  /** Set by each claim: the status it claimed from (a resumed expired lease says `running`). */
  claimedFrom?: OperationStatus;
  /**
   * The last log seq stored when the operation was put back in the queue, so the next claimer
   * continues the log without a query (after an expired lease it queries instead).
   */
  logSeq?: number;
  createdAt: number;
  startedAt?: number;
  finishedAt?: number;
  result?: Record<string, unknown>;
  error?: string;
  /** Epoch seconds; set only once terminal (real DynamoDB deletes lazily, so readers filter too). */
  expiresAt?: number;
}

export type InterviewStatus =
  'scheduled' | 'provisioning' | 'ready' | 'destroying' | 'ended' | 'failed' | 'cancelled';
export const LIVE_INTERVIEW_STATUSES: readonly InterviewStatus[] = [
  'scheduled',
  'provisioning',
  'ready',
  'destroying',
];

/** Statuses in which an interview is going away: its AI access ends. */
export const ENDING_INTERVIEW_STATUSES: ReadonlySet<InterviewStatus> = new Set([
  'destroying',
  'ended',
  'cancelled',
]);

export interface InterviewRecord {
  id: string;
  candidateName: string;
  candidateEmail?: string;
  challengeId: string;
  /** When the candidate starts. */
  scheduledAt: number;
  durationMinutes: number;
  /** scheduledAt + duration (+ extensions). No instance outlives it by more than the grace. */
  deadlineAt: number;
  status: InterviewStatus;
  ai: { tokenBudget: number; model?: string };
  createdBy: string;
  createdAt: number;
  updatedAt: number;
  createOperationId: string;
  destroyOperationId?: string;
  /** What the driver reported when the instance became ready (driver-specific, no secrets). */
  instance?: Record<string, unknown>;
  version: number;
}

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

/** One entry of an operation's event log: a log line, a status change, or the final `end`. */
export interface OperationEvent {
  seq: number;
  ts: number;
  kind: 'log' | 'status' | 'end';
  level?: LogLevel;
  message?: string;
  status?: OperationStatus;
  data?: Record<string, unknown>;
}
