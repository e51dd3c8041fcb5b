import type { TokenItem, TokenStore } from '../store/gateway-tokens';
import type { LedgerItem, LedgerStore } from '../store/ledger';
import { GatewayError, gwErrors } from './errors';
import { bearer, hashToken, tokenInterviewId } from './tokens';

/** What one process knows about an interview's AI access. */
export interface InterviewAccess {
  interviewId: string;
  /** Last known ledger (budget, deadline, end, pinned model); null when none exists. */
  ledger: LedgerItem | null;
  tokens: Map<string, TokenItem>;
  loadedAt: number;
}

export interface Authenticated {
  interviewId: string;
  access: InterviewAccess;
}

const MAX_ENTRIES = 20_000;
/** Re-read at most this often when a token is unknown or the deadline looks passed (other processes may have issued or extended). */
const RECHECK_MS = 250;

/**
 * Verifies gateway tokens without a database read on the hot path. Each interview's state is
 * cached; a use after `freshMs` serves the cached state and refreshes it in the background;
 * after `hardMaxMs` (an idle interview) the request waits for a fresh read, so a revocation
 * made elsewhere is honoured within ~freshMs while the interview is busy and at once after a
 * pause. Local changes (issue, revoke, extend, end) update the cache directly.
 */
export class AccessCache {
  private entries = new Map<string, InterviewAccess>();
  private loading = new Map<string, Promise<InterviewAccess>>();

  constructor(
    private readonly deps: {
      ledger: LedgerStore;
      tokens: TokenStore;
      now: () => number;
      freshMs: number;
      log: { warn(o: object, m: string): void };
      /** Called when a refresh shows a change that running requests must obey (end, revoke, new deadline). */
      onChange?: (before: InterviewAccess | undefined, after: InterviewAccess) => void;
    },
  ) {}

  private get hardMaxMs(): number {
    return Math.max(5 * this.deps.freshMs, 5000);
  }

  /** Authenticates `Authorization: Bearer <gateway token>`; throws the typed 401/403. */
  async authenticate(header: string | null): Promise<Authenticated> {
    const token = bearer(header);
    if (!token) throw gwErrors.missingToken();
    const interviewId = tokenInterviewId(token);
    if (!interviewId) throw gwErrors.invalidToken();
    const hash = hashToken(token);
    let access = await this.get(interviewId);
    let t = access.tokens.get(hash);
    if (!t && this.deps.now() - access.loadedAt > RECHECK_MS) {
      access = await this.load(interviewId);
      t = access.tokens.get(hash);
    }
    if (!t || !access.ledger) throw gwErrors.invalidToken();
    if (t.revokedAt !== undefined) throw gwErrors.tokenRevoked();
    this.checkOpen(access);
    if (this.deps.now() >= access.ledger.deadlineAt && this.deps.now() - access.loadedAt > RECHECK_MS) {
      access = await this.load(interviewId);
      t = access.tokens.get(hash) ?? t;
      if (t.revokedAt !== undefined) throw gwErrors.tokenRevoked();
      this.checkOpen(access);
    }
    if (!access.ledger || this.deps.now() >= access.ledger.deadlineAt) throw gwErrors.deadlinePassed();
    if (this.deps.now() >= t.expiresAt && this.deps.now() - access.loadedAt > RECHECK_MS) {
      // Extended elsewhere? Tokens follow the deadline.
      access = await this.load(interviewId);
      t = access.tokens.get(hash) ?? t;
    }
    if (this.deps.now() >= t.expiresAt) throw gwErrors.tokenExpired();
    return { interviewId, access };
  }

  private checkOpen(access: InterviewAccess): void {
    if (access.ledger?.endedAt !== undefined) throw gwErrors.accessEnded();
  }

  /** The cached state, read when missing or too old. */
  async get(interviewId: string): Promise<InterviewAccess> {
    const e = this.entries.get(interviewId);
    const now = this.deps.now();
    if (!e || now - e.loadedAt > this.hardMaxMs) return this.load(interviewId);
    if (now - e.loadedAt > this.deps.freshMs) this.load(interviewId).catch(() => {});
    return e;
  }

  peek(interviewId: string): InterviewAccess | undefined {
    return this.entries.get(interviewId);
  }

  /** Reads the interview's ledger and tokens (single-flight per interview). */
  load(interviewId: string): Promise<InterviewAccess> {
    const inflight = this.loading.get(interviewId);
    if (inflight) return inflight;
    const p = (async () => {
      const startedAt = this.deps.now();
      try {
        const [ledger, tokens] = await Promise.all([
          this.deps.ledger.get(interviewId),
          this.deps.tokens.list(interviewId),
        ]);
        const next: InterviewAccess = {
          interviewId,
          ledger,
          tokens: new Map(tokens.map((t) => [t.tokenHash, t])),
          loadedAt: startedAt,
        };
        const before = this.entries.get(interviewId);
        // A ledger write of this process that finished while we read is newer than what we read.
        if (before?.ledger && ledger && before.ledger.updatedAt > ledger.updatedAt) next.ledger = mergeLedger(ledger, before.ledger);
        this.set(next);
        this.deps.onChange?.(before, next);
        return next;
      } catch (e) {
        this.deps.log.warn({ interviewId, err: (e as Error).message }, 'gateway: could not read interview access state');
        throw new GatewayError(503, 'unavailable', 'The AI gateway could not check this token right now; retry shortly', true, 1);
      } finally {
        this.loading.delete(interviewId);
      }
    })();
    this.loading.set(interviewId, p);
    return p;
  }

  /** Applies a ledger this process just wrote (ALL_NEW), if it is not older than what is cached. */
  applyLedger(ledger: LedgerItem): void {
    const e = this.entries.get(ledger.interviewId);
    if (!e) return;
    if (!e.ledger || ledger.updatedAt >= e.ledger.updatedAt) {
      const before = { ...e };
      e.ledger = ledger;
      this.deps.onChange?.(before, e);
    }
  }

  /** Records a token this process just issued. */
  addToken(t: TokenItem, ledger: LedgerItem | null): void {
    const e = this.entries.get(t.interviewId);
    if (e) {
      e.tokens.set(t.tokenHash, t);
      if (ledger) this.applyLedger(ledger);
    } else {
      this.set({ interviewId: t.interviewId, ledger, tokens: new Map([[t.tokenHash, t]]), loadedAt: this.deps.now() });
    }
  }

  /** Forgets an interview's state: the next request reads it again (revocations pushed by the event hub). */
  invalidate(interviewId: string): void {
    this.entries.delete(interviewId);
  }

  private set(a: InterviewAccess): void {
    this.entries.delete(a.interviewId);
    this.entries.set(a.interviewId, a);
    if (this.entries.size > MAX_ENTRIES) {
      const oldest = this.entries.keys().next().value;
      if (oldest !== undefined) this.entries.delete(oldest);
    }
  }
}

function mergeLedger(read: LedgerItem, mine: LedgerItem): LedgerItem {
  return mine.updatedAt > read.updatedAt ? mine : read;
}
