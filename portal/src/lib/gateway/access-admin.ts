import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { TableNames } from '../config/env';
import { ApiError, badRequest } from '../http/errors';
import { TokenStore } from '../store/gateway-tokens';
import { LedgerStore, type LedgerItem } from '../store/ledger';
import { hashToken, mintToken } from './tokens';

/** What an interview needs to get AI access (a subset of InterviewRecord). */
export interface InterviewForGateway {
  id: string;
  deadlineAt: number;
  ai: { tokenBudget: number; model?: string };
}

/**
 * The stored side of AI access: open an interview's ledger, issue and revoke its gateway
 * tokens, raise its limits. Database writes only — no cache, workers or timers — so a
 * standalone scheduler process can hand tokens to instances and revoke them at destroy without
 * running a gateway. A `Gateway` wraps it and adds the in-process effects (cache, running
 * streams); other processes' gateways see the changes through the event hub and their caches.
 */
export class GatewayAccessAdmin {
  readonly ledger: LedgerStore;
  readonly tokens: TokenStore;
  private readonly now: () => number;

  constructor(deps: {
    db: DynamoDBDocumentClient;
    /** Client for the ledger's budget-slice writes (see LedgerStore); default `db`. */
    background?: DynamoDBDocumentClient;
    tables: Pick<TableNames, 'aiLedger' | 'aiTokens'>;
    now?: () => number;
  }) {
    this.ledger = new LedgerStore(deps.db, deps.tables.aiLedger, deps.background);
    this.tokens = new TokenStore(deps.db, deps.tables.aiTokens);
    this.now = deps.now ?? Date.now;
  }

  /**
   * Opens the interview's ledger (once; budget and pinned model from the interview) and issues a
   * gateway token that expires at the deadline. The plaintext is returned only here. A retried
   * provisioning gets a new token; the old ones stay valid until the deadline or revocation.
   */
  async issueToken(interview: InterviewForGateway): Promise<{ token: string; expiresAt: number }> {
    const now = this.now();
    if (!(interview.deadlineAt > now))
      throw badRequest('The interview deadline has passed', { deadlineAt: 'in the past' });
    const budget = interview.ai.tokenBudget;
    if (!Number.isInteger(budget) || budget < 0)
      throw badRequest('Invalid token budget', { 'ai.tokenBudget': 'a whole number ≥ 0' });
    const created = await this.ledger.create({
      interviewId: interview.id,
      budget,
      deadlineAt: interview.deadlineAt,
      ...(interview.ai.model && { model: interview.ai.model }),
      now,
    });
    // The ledger existed (a retried create): repair an extension whose ledger write was lost.
    const ledger = created ? null : await this.raiseLimits(interview);
    const expiresAt = Math.max(interview.deadlineAt, ledger?.deadlineAt ?? 0);
    const token = mintToken(interview.id);
    await this.tokens.put({
      interviewId: interview.id,
      tokenHash: hashToken(token),
      expiresAt,
      createdAt: now,
    });
    return { token, expiresAt };
  }

  /**
   * Raises the ledger to the interview's limits (the interview record is the source of truth):
   * adds what the budget lacks, moves the deadline later. Idempotent and safe to race: a
   * repeated call adds nothing. Returns the updated ledger, the unchanged one when nothing was
   * missing, or null when the interview has no ledger yet.
   */
  async raiseLimits(interview: InterviewForGateway): Promise<LedgerItem | null> {
    for (let attempt = 0; attempt < 5; attempt++) {
      const ledger = await this.ledger.get(interview.id);
      if (!ledger) return null;
      const tokens = Math.max(0, interview.ai.tokenBudget - ledger.budget);
      const deadlineAt =
        interview.deadlineAt > ledger.deadlineAt ? interview.deadlineAt : undefined;
      if (tokens === 0 && deadlineAt === undefined) return ledger;
      const updated = await this.ledger.extend(
        interview.id,
        {
          ...(tokens > 0 && { tokens, expectBudget: ledger.budget }),
          ...(deadlineAt !== undefined && { deadlineAt }),
        },
        this.now(),
      );
      if (!updated) continue; // raced another change: re-read and recompute
      if (deadlineAt !== undefined) await this.tokens.setExpiry(interview.id, updated.deadlineAt);
      return updated;
    }
    throw new ApiError(409, 'conflict', 'The AI budget is being changed concurrently; try again');
  }

  /** Revokes every token of the interview (the ledger mark is what other processes' caches see). */
  async revoke(interviewId: string): Promise<LedgerItem | null> {
    const now = this.now();
    const ledger = await this.ledger.revokeTokens(interviewId, now);
    await this.tokens.revokeAll(interviewId, now);
    return ledger;
  }
}
