import { createHash, randomBytes } from 'node:crypto';

/**
 * Per-interview gateway tokens: `igw.<base64url(interviewId)>.<base64url(32 CSPRNG bytes)>`.
 *
 * - 256 random bits, so the stored form is a plain SHA-256 (no salt or slow hash needed: there
 *   is nothing to guess). The plaintext is returned once, to the instance driver.
 * - The interview id inside the token is not a secret; it lets the verifier find the
 *   interview's token hashes without a lookup table, and it scopes the token: a token only
 *   ever authorizes its own interview's gateway.
 * - Verification on the hot path never reads the database: see access.ts (an in-process cache
 *   of each interview's token hashes, revocation, deadline and budget state, revalidated in the
 *   background every AI_ACCESS_CACHE_MS and invalidated at once by local revoke/extend/end or by
 *   `Gateway.invalidate()`, which the event hub calls for changes made in other processes).
 *   A signed token was the alternative; it would still need a revocation check, i.e. the same
 *   cache, so the opaque token is simpler and leaks nothing.
 */
const PREFIX = 'igw';

export function mintToken(interviewId: string): string {
  return `${PREFIX}.${Buffer.from(interviewId, 'utf8').toString('base64url')}.${randomBytes(32).toString('base64url')}`;
}

export function hashToken(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex');
}

/** The interview a token claims to belong to, or null when it is not one of ours. */
export function tokenInterviewId(token: string): string | null {
  if (token.length > 600) return null;
  const parts = token.split('.');
  if (parts.length !== 3 || parts[0] !== PREFIX || parts[2]!.length !== 43) return null;
  const id = Buffer.from(parts[1]!, 'base64url').toString('utf8');
  return id.length > 0 && id.length <= 200 ? id : null;
}

/** The bearer token of an Authorization header, or null. */
export function bearer(header: string | null): string | null {
  if (!header) return null;
  const m = /^Bearer\s+(\S+)\s*$/i.exec(header);
  return m ? m[1]! : null;
}
