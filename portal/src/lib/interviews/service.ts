import { randomBytes } from 'node:crypto';
import type { ChallengeCatalog } from '../challenges/catalog';
import type { EventPublisher } from '../events/publisher';
import { badRequest, conflict, notFound, aiUnavailable } from '../http/errors';
import { InvalidCursorError, type InterviewStore, type Page } from '../store/interviews';
import type { InterviewRecord, InterviewStatus } from '../store/types';
import type { OperationsEngine } from '../operations/engine';
import { checkStartTime, type CreateInterviewInput, type ExtendInterviewInput } from './schemas';
import { toInterviewView, type InterviewView } from './view';
import type { AuditLog } from '../audit/audit-log';
import type { UsageSnapshot } from '../gateway/ledger';
import { ApiError } from '../http/errors';

/** The subset of the operations engine this service needs (see OperationsEngine). */
export type OperationQueue = Pick<OperationsEngine, 'enqueue' | 'setDeadline'>;

/**
 * The AI gateway as the interviews service drives it (lib/gateway `Gateway`). The interview
 * record holds the limits; `syncLimits` raises the gateway's ledger to them idempotently.
 */
export interface AiControl {
  syncLimits(
    interview: Pick<InterviewRecord, 'id' | 'deadlineAt' | 'ai'>,
  ): Promise<UsageSnapshot | null>;
  endAccess(interviewId: string): Promise<{ usage: UsageSnapshot; first: boolean } | null>;
  usage(interviewId: string): Promise<UsageSnapshot | null>;
}

export interface InterviewServiceDeps {
  store: InterviewStore;
  challenges: ChallengeCatalog;
  operations: OperationQueue;
  publisher: EventPublisher;
  /** Absent when the portal runs without the gateway: AI controls then answer 503. */
  ai?: AiControl;
  /** Interviewer actions are recorded here (lib/audit). */
  audit?: Pick<AuditLog, 'record'>;
  clock?: () => number;
  /** The candidate's personal link (issued once per interview; see auth/candidate-links.ts). */
  candidateLinks?: {
    issue(interview: Pick<InterviewRecord, 'id'>): Promise<string>;
    urlFor(interviewId: string): Promise<string | null>;
  };
}

/** Interviewer-facing interview lifecycle: create, list, get, destroy, extend. */
export class InterviewService {
  private readonly now: () => number;

  constructor(private readonly deps: InterviewServiceDeps) {
    this.now = deps.clock ?? Date.now;
  }

  async create(input: CreateInterviewInput, createdBy: string): Promise<InterviewView> {
    const now = this.now();
    const challenge = await this.deps.challenges.get(input.challengeId);
    if (!challenge)
      throw badRequest('Unknown challenge', { 'body.challengeId': 'no such challenge' });
    const scheduledAt = input.scheduledAt ? Date.parse(input.scheduledAt) : now;
    const startProblem = checkStartTime(scheduledAt, now);
    if (startProblem) throw badRequest('Invalid start time', { 'body.scheduledAt': startProblem });

    const id = `iv_${randomBytes(16).toString('base64url')}`;
    const deadlineAt = scheduledAt + input.durationMinutes * 60_000;

    // No transactions (dynalite), so order the two writes: the operation first. If the
    // interview write then fails, the create finds no interview and cancels itself; the reverse
    // order could leave an interview that nothing ever provisions or destroys.
    // The engine makes the create due early by the provisioning lead (IDE ready at scheduledAt).
    const { operation: op } = await this.deps.operations.enqueue({
      interviewId: id,
      type: 'create',
      scheduledAt,
      autoDestroyAt: deadlineAt,
    });
    const record: InterviewRecord = {
      id,
      candidateName: input.candidateName,
      ...(input.candidateEmail && { candidateEmail: input.candidateEmail }),
      challengeId: challenge.id,
      scheduledAt,
      durationMinutes: input.durationMinutes,
      deadlineAt,
      status: 'scheduled',
      ai: {
        tokenBudget: input.ai?.tokenBudget ?? 0,
        ...(input.ai?.model && { model: input.ai.model }),
      },
      createdBy,
      createdAt: now,
      updatedAt: now,
      createOperationId: op.id,
      version: 1,
    };
    await this.deps.store.put(record);
    const candidateUrl = await this.deps.candidateLinks?.issue(record);
    await this.deps.audit?.record({
      actor: 'interviewer',
      action: 'interview.created',
      interviewId: id,
      details: {
        challengeId: challenge.id,
        scheduledAt,
        deadlineAt,
        tokenBudget: record.ai.tokenBudget,
      },
    });
    await this.publish(record);
    return toInterviewView(record, candidateUrl);
  }

  /** One interview, with the candidate's link for the interviewer. */
  async get(id: string): Promise<InterviewView> {
    const record = await this.require(id);
    const url = await this.deps.candidateLinks?.urlFor(id);
    return toInterviewView(record, url ?? undefined);
  }

  async list(createdBy: string, limit: number, cursor?: string): Promise<Page<InterviewView>> {
    try {
      const page = await this.deps.store.listByCreator(createdBy, limit, cursor);
      return { items: page.items.map((r) => this.view(r)), cursor: page.cursor };
    } catch (e) {
      if (e instanceof InvalidCursorError)
        throw badRequest('Invalid cursor', { 'query.cursor': 'not a cursor from this API' });
      throw e;
    }
  }

  /** Ends an interview now. Idempotent: the interview has exactly one destroy operation. */
  async destroy(id: string): Promise<InterviewView> {
    const interview = await this.require(id);
    const { operation: op } = await this.deps.operations.enqueue({
      interviewId: id,
      type: 'destroy',
      scheduledAt: this.now(),
    });
    await this.deps.store.setDestroyOperation(id, op.id, this.now());
    if (!interview.destroyOperationId) {
      await this.deps.audit?.record({
        actor: 'interviewer',
        action: 'interview.ended_early',
        interviewId: id,
        details: { status: interview.status },
      });
    }
    return this.view({ ...interview, destroyOperationId: op.id });
  }

  async extend(
    id: string,
    input: ExtendInterviewInput,
  ): Promise<InterviewView & { usage?: UsageSnapshot }> {
    for (let attempt = 0; attempt < 5; attempt++) {
      const current = await this.require(id);
      if (!isLive(current.status) || current.destroyOperationId) {
        throw conflict(
          `Interview has ${current.destroyOperationId ? 'been ended' : current.status}; it cannot be extended`,
        );
      }
      const deadlineAt = input.minutes ? current.deadlineAt + input.minutes * 60_000 : undefined;
      const tokenBudget = input.tokens ? current.ai.tokenBudget + input.tokens : undefined;
      if (deadlineAt !== undefined) {
        const moved = await this.deps.operations.setDeadline(current.createOperationId, deadlineAt);
        if (moved === 'too-late')
          throw conflict('The deadline has passed; the interview is ending');
      }
      const updated = await this.deps.store.extend(
        current,
        { deadlineAt, tokenBudget },
        this.now(),
      );
      if (!updated) continue; // changed underneath: re-read and retry
      // The record is the source of truth; the ledger follows it (one conditional update, so
      // tokens and time change together for the candidate; a lost write is repaired next time).
      const usage = await this.deps.ai?.syncLimits(updated);
      await this.deps.audit?.record({
        actor: 'interviewer',
        action: 'interview.extended',
        interviewId: id,
        details: {
          ...(input.minutes && { minutes: input.minutes, deadlineAt: updated.deadlineAt }),
          ...(input.tokens && { tokens: input.tokens, tokenBudget: updated.ai.tokenBudget }),
        },
      });
      await this.publish(updated);
      return { ...this.view(updated), ...(usage && { usage }) };
    }
    throw conflict('Interview is being changed concurrently; try again');
  }

  /** The interview's token meter (a zero meter before its AI access is opened at provisioning). */
  async aiUsage(id: string): Promise<UsageSnapshot> {
    const interview = await this.require(id);
    const usage = await this.aiControl().usage(id);
    return usage ?? unopenedMeter(interview, this.now());
  }

  /** Ends the candidate's AI access now; the rest of the interview goes on. Idempotent. */
  async endAiAccess(id: string): Promise<UsageSnapshot> {
    const interview = await this.require(id);
    if (!isLive(interview.status))
      throw conflict(`Interview has ${interview.status}; its AI access is already over`);
    const ended = await this.aiControl().endAccess(id);
    if (!ended)
      throw conflict('AI access opens when the interview is provisioned; nothing to end yet');
    const { usage, first } = ended;
    if (first) {
      await this.deps.audit?.record({
        actor: 'interviewer',
        action: 'ai.access_ended',
        interviewId: id,
        details: { used: usage.used, budget: usage.budget },
      });
    }
    return usage;
  }

  private aiControl(): AiControl {
    if (!this.deps.ai) throw aiUnavailable();
    return this.deps.ai;
  }

  /** Throws 404 when there is no such interview (one read; `get` also looks up the candidate link). */
  async mustExist(id: string): Promise<void> {
    await this.require(id);
  }

  private async require(id: string): Promise<InterviewRecord> {
    const r = await this.deps.store.get(id);
    if (!r) throw notFound('Interview');
    return r;
  }

  /** Without the candidate link: lists and events don't carry it (one store read each). */
  private view(r: InterviewRecord): InterviewView {
    return toInterviewView(r);
  }

  private async publish(r: InterviewRecord): Promise<void> {
    await this.deps.publisher
      .global({ type: 'interview.updated', interviewId: r.id, data: { ...this.view(r) } })
      .catch(() => {});
  }
}

const isLive = (s: InterviewStatus) => s === 'scheduled' || s === 'provisioning' || s === 'ready';

/** What the meter shows before the gateway has a ledger for the interview. */
function unopenedMeter(r: InterviewRecord, at: number): UsageSnapshot {
  const budget = r.ai.tokenBudget;
  return {
    interviewId: r.id,
    budget,
    used: 0,
    usedIn: 0,
    usedOut: 0,
    reserved: 0,
    remaining: budget,
    requests: 0,
    estimatedRequests: 0,
    deadlineAt: r.deadlineAt,
    at,
  };
}
