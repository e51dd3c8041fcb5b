import { z } from 'zod';
import { route } from '@/lib/http/route';
import { unauthorized } from '@/lib/http/errors';
import { ADMIN_COOKIE, checkAdminToken, createAdminSession } from '@/lib/auth/admin';

export const dynamic = 'force-dynamic';

/** Signs the browser in with the admin token: sets an HttpOnly, SameSite=Strict session cookie. */
export const POST = route(
  { auth: 'public', body: z.object({ token: z.string().min(1).max(500) }).strict() },
  async ({ body, runtime, request }) => {
    if (!checkAdminToken(runtime.adminToken, body.token)) throw unauthorized('Wrong admin token');
    const session = createAdminSession(runtime.adminToken);
    const secure = new URL(request.url).protocol === 'https:' ? '; Secure' : '';
    return Response.json(
      { ok: true },
      {
        headers: {
          'set-cookie': `${ADMIN_COOKIE}=${session.value}; Path=/; HttpOnly; SameSite=Strict; Max-Age=${session.maxAgeSeconds}${secure}`,
        },
      },
    );
  },
);

export const DELETE = route({ auth: 'public' }, async () =>
  Response.json(
    { ok: true },
    { headers: { 'set-cookie': `${ADMIN_COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0` } },
  ),
);
