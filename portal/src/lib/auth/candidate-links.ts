import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { ApiError, notFound } from '../http/errors';
import { CandidateLinkStore } from '../store/candidate-links';
import { InterviewStore } from '../store/interviews';
import type { AuditLog } from '../audit/audit-log';
import type { Runtime } from '../runtime';
import type { InterviewRecord } from '../store/types';
import { LIVE_INTERVIEW_STATUSES } from '../store/types';

/** Cookie that lets a browser into one interview's IDE; scoped to Path=/i/<id>/. */
export const CANDIDATE_COOKIE = 'candidate_session';
/** A candidate session outlives the deadline it was issued with by this much (extensions); the
 * instance itself is destroyed at the deadline, which is what really ends access. */
const SESSION_SLACK_MS = 6 * 3600_000;

const equal = (a: string, b: string) => {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
};
const mac = (key: Buffer, text: string) =>
  createHmac('sha256', key).update(text).digest('base64url');
const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');

/** Keys for links and sessions, derived from one server secret (the admin token) with labels. */
export function deriveKey(secret: string, label: 'candidate-link' | 'candidate-session'): Buffer {
  return createHmac('sha256', secret).update(`interview-platform:${label}:v1`).digest();
}

/** `<interviewId>.<expiresAt>.<mac>`: verified without a database read. */
export function createCandidateSession(
  key: Buffer,
  interviewId: string,
  expiresAt: number,
): string {
  return `${interviewId}.${expiresAt}.${mac(key, `session:${interviewId}:${expiresAt}`)}`;
}

/** The interview a session value grants, or null (bad MAC, expired, malformed). */
export function verifyCandidateSession(
  key: Buffer,
  value: string,
  now = Date.now(),
): string | null {
  const parts = value.split('.');
  if (parts.length !== 3) return null;
  const [id, exp, sig] = parts as [string, string, string];
  const expiresAt = Number(exp);
  if (!Number.isSafeInteger(expiresAt) || expiresAt < now) return null;
  return equal(sig, mac(key, `session:${id}:${expiresAt}`)) ? id : null;
}

/** The Set-Cookie header for a candidate session: HttpOnly, SameSite=Lax, Path=/i/<id>/. */
export function candidateCookie(
  interviewId: string,
  value: string,
  maxAgeSeconds: number,
  secure: boolean,
): string {
  return [
    `${CANDIDATE_COOKIE}=${value}`,
    `Path=/i/${interviewId}/`,
    `Max-Age=${Math.max(0, Math.floor(maxAgeSeconds))}`,
    'HttpOnly',
    'SameSite=Lax',
    ...(secure ? ['Secure'] : []),
  ].join('; ');
}

export interface CandidateLinksDeps {
  store: CandidateLinkStore;
  /** The server secret links and sessions are derived from (the admin token). */
  secret: string;
  /** PUBLIC_URL of the portal, without trailing slash (a function when only known once listening). */
  publicUrl: string | (() => string);
  interviews: { get(id: string): Promise<InterviewRecord | null> };
  /** Audit sink: one line per use, never the token. */
  audit: (event: Record<string, unknown>) => void;
  now?: () => number;
}

export interface Redeemed {
  interviewId: string;
  /** Set-Cookie header value for the browser. */
  cookie: string;
  /** Where to send the browser: the IDE behind the proxy. */
  location: string;
}

/**
 * Candidate links `/c/<token>`: a token from the CSPRNG per interview, stored only as a hash,
 * valid while the interview is live and before its (current) deadline. Redeeming one sets the
 * session cookie scoped to that interview's IDE and nothing else (I6). Every use is audited.
 */
export class CandidateLinks {
  private readonly linkKey: Buffer;
  private readonly sessionKey: Buffer;

  constructor(private readonly deps: CandidateLinksDeps) {
    this.linkKey = deriveKey(deps.secret, 'candidate-link');
    this.sessionKey = deriveKey(deps.secret, 'candidate-session');
  }

  /** Creates the interview's link once (idempotent) and returns its URL. */
  async issue(interview: Pick<InterviewRecord, 'id'>): Promise<string> {
    const salt = randomBytes(32).toString('base64url');
    const token = this.token(interview.id, salt);
    const stored = await this.deps.store.putIfAbsent({
      interviewId: interview.id,
      tokenHash: sha256(token),
      salt,
      createdAt: this.now(),
    });
    return this.url(interview.id, stored.salt);
  }

  /** The interview's link URL for interviewers, or null when none was issued. */
  async urlFor(interviewId: string): Promise<string | null> {
    const item = await this.deps.store.get(interviewId);
    return item ? this.url(interviewId, item.salt) : null;
  }

  /** Checks a token; throws 404 (unknown) or 410 (interview over) — both audited. */
  async redeem(token: string, meta: { ip?: string } = {}): Promise<Redeemed> {
    const dot = token.indexOf('.');
    const interviewId = dot > 0 ? token.slice(0, dot) : '';
    const fail = (reason: string, error: ApiError): never => {
      this.deps.audit({
        event: 'candidate_link.used',
        ok: false,
        reason,
        interviewId: interviewId || undefined,
        ip: meta.ip,
      });
      throw error;
    };
    if (!/^[A-Za-z0-9_-]{1,64}$/.test(interviewId) || token.length > 200)
      fail('malformed', notFound('Candidate link'));
    const item = await this.deps.store.get(interviewId);
    if (!item || !equal(sha256(token), item.tokenHash)) fail('unknown', notFound('Candidate link'));
    const interview = await this.deps.interviews.get(interviewId);
    const now = this.now();
    if (
      !interview ||
      !LIVE_INTERVIEW_STATUSES.includes(interview.status) ||
      interview.deadlineAt <= now
    ) {
      fail(
        'expired',
        new ApiError(410, 'gone', 'This interview has ended; the link is no longer valid'),
      );
    }
    const expiresAt = interview!.deadlineAt + SESSION_SLACK_MS;
    const value = createCandidateSession(this.sessionKey, interviewId, expiresAt);
    this.deps.audit({ event: 'candidate_link.used', ok: true, interviewId, ip: meta.ip });
    return {
      interviewId,
      cookie: candidateCookie(
        interviewId,
        value,
        (expiresAt - now) / 1000,
        this.publicUrl().startsWith('https:'),
      ),
      location: `/i/${interviewId}/`,
    };
  }

  private token(interviewId: string, salt: string): string {
    return `${interviewId}.${mac(this.linkKey, `link:${interviewId}:${salt}`)}`;
  }

  private url(interviewId: string, salt: string): string {
    return `${this.publicUrl()}/c/${this.token(interviewId, salt)}`;
  }

  private publicUrl(): string {
    const u = this.deps.publicUrl;
    return typeof u === 'function' ? u() : u;
  }

  private now(): number {
    return this.deps.now?.() ?? Date.now();
  }
}

/** The process's CandidateLinks from the runtime (config, db, admin token as secret, logger as audit). */
export function candidateLinksFor(
  runtime: Pick<Runtime, 'config' | 'db' | 'adminToken' | 'log'> & {
    audit?: Pick<AuditLog, 'note'>;
  },
): CandidateLinks {
  return new CandidateLinks({
    store: new CandidateLinkStore(runtime.db, runtime.config.tables.candidateLinks),
    secret: runtime.adminToken,
    // Read per use: with PORT=0 and no PUBLIC_URL the port is known only once the server listens.
    publicUrl: () => runtime.config.publicUrl,
    interviews: new InterviewStore(runtime.db, runtime.config.tables.interviews),
    audit: (event) => {
      // Uses of a real link go to the interview's audit trail; guesses (malformed, unknown
      // tokens) only to the log, so anonymous requests cannot grow the table.
      const {
        event: action,
        interviewId,
        reason,
        ok,
        ip,
      } = event as {
        event: string;
        interviewId?: string;
        reason?: string;
        ok: boolean;
        ip?: string;
      };
      if (runtime.audit && interviewId && (ok || reason === 'expired')) {
        runtime.audit.note({
          actor: 'candidate',
          action,
          interviewId,
          details: { ok, ...(reason && { reason }), ...(ip && { ip }) },
        });
      } else {
        runtime.log.info({ audit: true, ...event }, action);
      }
    },
  });
}
