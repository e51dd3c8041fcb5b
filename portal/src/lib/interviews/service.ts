import { randomBytes } from 'node:crypto';
import type { ChallengeCatalog } from '../challenges/catalog';
import type { EventPublisher } from '../events/publisher';
import { badRequest, conflict, notFound } from '../http/errors';
import { InvalidCursorError, type InterviewStore, type Page } from '../store/interviews';
import type { InterviewRecord, InterviewStatus } from '../store/types';
import type { OperationsEngine } from '../operations/engine';
import {
  checkStartTime,
  type CreateInterviewInput,
  type ExtendInterviewInput,
} from './schemas';
import { toInterviewView, type InterviewView } from './view';

/** The subset of the operations engine this service needs (see OperationsEngine). */
export type OperationQueue = Pick<OperationsEngine, 'enqueue' | 'setDeadline'>;

/** Optional hooks into the AI gateway (budget extension), wired when the gateway exists. */
export interface BudgetControl {
  extendTokens(interviewId: string, tokens: number): Promise<void>;
  extendDeadline(interviewId: string, deadlineAt: number): Promise<void>;
}

export interface InterviewServiceDeps {
  store: InterviewStore;
  challenges: ChallengeCatalog;
  operations: OperationQueue;
  publisher: EventPublisher;
  budget?: BudgetControl;
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
    if (!challenge) throw badRequest('Unknown challenge', { 'body.challengeId': 'no such challenge' });
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
      ai: { tokenBudget: input.ai?.tokenBudget ?? 0, ...(input.ai?.model && { model: input.ai.model }) },
      createdBy,
      createdAt: now,
      updatedAt: now,
      createOperationId: op.id,
      version: 1,
    };
    await this.deps.store.put(record);
    const candidateUrl = await this.deps.candidateLinks?.issue(record);
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
      if (e instanceof InvalidCursorError) throw badRequest('Invalid cursor', { 'query.cursor': 'not a cursor from this API' });
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
    return this.view({ ...interview, destroyOperationId: op.id });
  }

  async extend(id: string, input: ExtendInterviewInput): Promise<InterviewView> {
    for (let attempt = 0; attempt < 5; attempt++) {
      const current = await this.require(id);
      if (!isLive(current.status) || current.destroyOperationId) {
        throw conflict(`Interview has ${current.destroyOperationId ? 'been ended' : current.status}; it cannot be extended`);
      }
      const deadlineAt = input.minutes ? current.deadlineAt + input.minutes * 60_000 : undefined;
      const tokenBudget = input.tokens ? current.ai.tokenBudget + input.tokens : undefined;
      if (deadlineAt !== undefined) {
        const moved = await this.deps.operations.setDeadline(current.createOperationId, deadlineAt);
        if (moved === 'too-late') throw conflict('The deadline has passed; the interview is ending');
      }
      const updated = await this.deps.store.extend(current, { deadlineAt, tokenBudget }, this.now());
      if (!updated) continue; // changed underneath: re-read and retry
      if (input.tokens) await this.deps.budget?.extendTokens(id, input.tokens);
      if (deadlineAt !== undefined) await this.deps.budget?.extendDeadline(id, deadlineAt);
      await this.publish(updated);
      return this.view(updated);
    }
    throw conflict('Interview is being changed concurrently; try again');
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
