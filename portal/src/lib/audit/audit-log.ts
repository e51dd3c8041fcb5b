import type { AuditItem, AuditStore } from '../store/audit';
import { interviewSubject } from '../store/audit';

export type AuditEntry = Pick<AuditItem, 'actor' | 'action'> & {
  interviewId?: string;
  details?: Record<string, unknown>;
};

export interface AuditLogger {
  info(o: object, m: string): void;
  error(o: object, m: string): void;
}

/**
 * Records who did what. Every entry goes to the log at once and to the audit table; `record`
 * resolves once the entry is stored, so callers that must not act unaudited can await it.
 * Entries carry no secrets (callers pass amounts and outcomes, never tokens or keys).
 */
export class AuditLog {
  constructor(private readonly deps: { store: AuditStore; log: AuditLogger; now?: () => number }) {}

  async record(entry: AuditEntry): Promise<AuditItem> {
    const at = (this.deps.now ?? Date.now)();
    this.deps.log.info({ audit: true, ...entry }, entry.action);
    return this.deps.store.append({
      subject: entry.interviewId ? interviewSubject(entry.interviewId) : 'org',
      at,
      actor: entry.actor,
      action: entry.action,
      ...(entry.interviewId && { interviewId: entry.interviewId }),
      ...(entry.details && { details: entry.details }),
    });
  }

  /** Fire-and-forget for paths that must not fail because the audit write did (it is still logged). */
  note(entry: AuditEntry): void {
    this.record(entry).catch((e: Error) =>
      this.deps.log.error({ err: e.message, action: entry.action }, 'audit entry not stored'),
    );
  }

  forInterview(interviewId: string, limit: number, cursor?: string) {
    return this.deps.store.list(interviewSubject(interviewId), limit, cursor);
  }
}
