import type { InterviewRecord } from '../store/types';

/** The interview as the API shows it: ISO times, no internal fields. */
export interface InterviewView {
  id: string;
  candidateName: string;
  candidateEmail?: string;
  challengeId: string;
  status: InterviewRecord['status'];
  scheduledAt: string;
  deadlineAt: string;
  durationMinutes: number;
  ai: { tokenBudget: number; model?: string };
  createdAt: string;
  updatedAt: string;
  operationId: string;
  destroyOperationId?: string;
  instance?: Record<string, unknown>;
  candidateUrl?: string;
}

const iso = (ms: number) => new Date(ms).toISOString();

export function toInterviewView(r: InterviewRecord, candidateUrl?: string): InterviewView {
  return {
    id: r.id,
    candidateName: r.candidateName,
    ...(r.candidateEmail && { candidateEmail: r.candidateEmail }),
    challengeId: r.challengeId,
    status: r.status,
    scheduledAt: iso(r.scheduledAt),
    deadlineAt: iso(r.deadlineAt),
    durationMinutes: r.durationMinutes,
    ai: r.ai,
    createdAt: iso(r.createdAt),
    updatedAt: iso(r.updatedAt),
    operationId: r.createOperationId,
    ...(r.destroyOperationId && { destroyOperationId: r.destroyOperationId }),
    ...(r.instance && { instance: r.instance }),
    ...(candidateUrl && { candidateUrl }),
  };
}
