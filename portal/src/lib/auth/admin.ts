import { createHmac, timingSafeEqual } from 'node:crypto';
import type { Runtime } from '../runtime';

export const ADMIN_COOKIE = 'admin_session';
const SESSION_MS = 12 * 60 * 60 * 1000;

function equal(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

function sign(adminToken: string, expires: number): string {
  return createHmac('sha256', adminToken).update(`admin-session:${expires}`).digest('base64url');
}

/** A session cookie value for the browser UI: expiry + HMAC keyed by the admin token. */
export function createAdminSession(
  adminToken: string,
  now = Date.now(),
): { value: string; maxAgeSeconds: number } {
  const expires = now + SESSION_MS;
  return { value: `${expires}.${sign(adminToken, expires)}`, maxAgeSeconds: SESSION_MS / 1000 };
}

export function verifyAdminSession(adminToken: string, value: string, now = Date.now()): boolean {
  const [exp, mac] = value.split('.');
  const expires = Number(exp);
  if (!mac || !Number.isFinite(expires) || expires < now) return false;
  return equal(mac, sign(adminToken, expires));
}

export function checkAdminToken(adminToken: string, presented: string): boolean {
  return equal(presented, adminToken);
}

function cookie(header: string | null, name: string): string | undefined {
  if (!header) return undefined;
  for (const part of header.split(';')) {
    const i = part.indexOf('=');
    if (i > 0 && part.slice(0, i).trim() === name)
      return decodeURIComponent(part.slice(i + 1).trim());
  }
  return undefined;
}

/** Until portal accounts exist: `Authorization: Bearer $ADMIN_TOKEN`, or the session cookie. */
export function isAdminRequest(request: Request, runtime: Pick<Runtime, 'adminToken'>): boolean {
  const auth = request.headers.get('authorization');
  if (auth?.startsWith('Bearer ')) return checkAdminToken(runtime.adminToken, auth.slice(7).trim());
  const session = cookie(request.headers.get('cookie'), ADMIN_COOKIE);
  return session !== undefined && verifyAdminSession(runtime.adminToken, session);
}
