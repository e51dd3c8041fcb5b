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
  /** When the ledger was last read (revocation, end and deadline live there). */
  loadedAt: number;
  /** When the token list was last read (only needed for tokens not seen yet, and expiry changes). */
  tokensLoadedAt: number;
}

/** A token is revoked by its own flag or by the ledger's "every token issued so far" mark. */
export const isRevoked = (t: TokenItem, ledger: LedgerItem | null) =>
  t.revokedAt !== undefined ||
  (ledger?.tokensRevokedAt !== undefined && t.createdAt <= ledger.tokensRevokedAt);

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
  private due = new Set<string>();
  /** Interviews served since the last background refresh (refreshed ahead when half stale). */
  private used = new Set<string>();
  private refreshing = false;

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
    if (!t && this.deps.now() - access.tokensLoadedAt > RECHECK_MS) {
      // Issued by another process since the tokens were read.
      access = await this.load(interviewId, true);
      t = access.tokens.get(hash);
    }
    if (!t || !access.ledger) throw gwErrors.invalidToken();
    if (isRevoked(t, access.ledger)) throw gwErrors.tokenRevoked();
    this.checkOpen(access);
    const now = this.deps.now();
    if (
      (now >= access.ledger.deadlineAt || now >= t.expiresAt) &&
      now - access.loadedAt > RECHECK_MS
    ) {
      // Passed, or extended by another process? Deadlines and token expiry move together.
      access = await this.load(interviewId, true);
      t = access.tokens.get(hash) ?? t;
      if (!access.ledger || isRevoked(t, access.ledger)) throw gwErrors.tokenRevoked();
      this.checkOpen(access);
    }
    if (this.deps.now() >= access.ledger!.deadlineAt) throw gwErrors.deadlinePassed();
    if (this.deps.now() >= t.expiresAt) throw gwErrors.tokenExpired();
    return { interviewId, access };
  }

  private checkOpen(access: InterviewAccess): void {
    if (access.ledger?.endedAt !== undefined) throw gwErrors.accessEnded();
  }

  /** The cached state, read when missing or too old (then in the background, batched with other interviews). */
  async get(interviewId: string): Promise<InterviewAccess> {
    const e = this.entries.get(interviewId);
    const now = this.deps.now();
    if (!e || now - e.loadedAt > this.hardMaxMs) return this.load(interviewId);
    this.used.add(interviewId);
    if (now - e.loadedAt > this.deps.freshMs) this.refreshSoon(interviewId);
    return e;
  }

  /**
   * Background refresh: every interview used while stale is re-read with the others in one
   * BatchGetItem (ledgers only: revocation, end and deadline live there), together with the
   * interviews in use that are past half their freshness — busy interviews go stale at
   * different moments, and without refreshing ahead each would cost its own call. So a busy
   * process spends about two database calls per refresh period, not one per interview.
   */
  private refreshSoon(interviewId: string): void {
    if (this.loading.has(interviewId)) return;
    this.due.add(interviewId);
    if (this.refreshing) return;
    this.refreshing = true;
    setImmediate(() => void this.refreshDue());
  }

  private async refreshDue(): Promise<void> {
    const startedAt = this.deps.now();
    for (const id of this.used) {
      const e = this.entries.get(id);
      if (e && startedAt - e.loadedAt > this.deps.freshMs / 2 && !this.loading.has(id))
        this.due.add(id);
    }
    this.used.clear();
    const ids = [...this.due];
    this.due.clear();
    try {
      const ledgers = await this.deps.ledger.getMany(ids);
      for (const id of ids) {
        const before = this.entries.get(id);
        if (!before || before.loadedAt > startedAt) continue;
        const fresh = ledgers.get(id) ?? null;
        const ledger =
          before.ledger && fresh && before.ledger.updatedAt > fresh.updatedAt
            ? before.ledger
            : fresh;
        const next: InterviewAccess = { ...before, ledger, loadedAt: startedAt };
        this.set(next);
        this.deps.onChange?.(before, next);
      }
    } catch (e) {
      this.deps.log.warn(
        { err: (e as Error).message, interviews: ids.length },
        'gateway: access refresh failed; retrying on use',
      );
    } finally {
      this.refreshing = false;
      if (this.due.size > 0) this.refreshSoon([...this.due][0]!);
    }
  }

  peek(interviewId: string): InterviewAccess | undefined {
    return this.entries.get(interviewId);
  }

  /**
   * Reads the interview's ledger, and its tokens when `withTokens` or not cached (single-flight
   * per interview). The background refresh reads only the ledger: one GetItem per busy
   * interview per AI_ACCESS_CACHE_MS.
   */
  load(interviewId: string, withTokens = false): Promise<InterviewAccess> {
    const inflight = this.loading.get(interviewId);
    if (inflight && !withTokens) return inflight;
    const p: Promise<InterviewAccess> = (async () => {
      const startedAt = this.deps.now();
      const cached = this.entries.get(interviewId);
      const readTokens = withTokens || !cached;
      try {
        const [ledger, tokens] = await Promise.all([
          this.deps.ledger.get(interviewId),
          readTokens ? this.deps.tokens.list(interviewId) : Promise.resolve(null),
        ]);
        const next: InterviewAccess = {
          interviewId,
          ledger,
          tokens: tokens
            ? new Map(tokens.map((t) => [t.tokenHash, t]))
            : new Map(this.entries.get(interviewId)?.tokens ?? []),
          loadedAt: startedAt,
          tokensLoadedAt: tokens ? startedAt : (this.entries.get(interviewId)?.tokensLoadedAt ?? 0),
        };
        const before = this.entries.get(interviewId);
        // A ledger write of this process that finished while we read is newer than what we read.
        if (before?.ledger && ledger && before.ledger.updatedAt > ledger.updatedAt)
          next.ledger = mergeLedger(ledger, before.ledger);
        this.set(next);
        this.deps.onChange?.(before, next);
        return next;
      } catch (e) {
        this.deps.log.warn(
          { interviewId, err: (e as Error).message },
          'gateway: could not read interview access state',
        );
        throw new GatewayError(
          503,
          'unavailable',
          'The AI gateway could not check this token right now; retry shortly',
          true,
          1,
        );
      } finally {
        if (this.loading.get(interviewId) === p!) this.loading.delete(interviewId);
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

  /** Records a revocation this process just wrote (every token of the interview). */
  markRevoked(interviewId: string, at: number): void {
    const e = this.entries.get(interviewId);
    if (!e) return;
    for (const [h, t] of e.tokens)
      if (t.revokedAt === undefined) e.tokens.set(h, { ...t, revokedAt: at });
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
