import { z } from 'zod';
import { route } from '@/lib/http/route';
import { candidateLinksFor } from '@/lib/auth/candidate-links';

/** A candidate link: sets the session cookie scoped to that interview's IDE and redirects into it. */
export const GET = route(
  { auth: 'public', params: z.object({ token: z.string().min(1).max(200) }) },
  async ({ params, request, runtime }) => {
    const ip = request.headers.get('x-forwarded-for')?.split(',')[0]?.trim();
    const r = await candidateLinksFor(runtime).redeem(params.token, { ip });
    return new Response(null, {
      status: 303,
      headers: {
        location: r.location,
        'set-cookie': r.cookie,
        'cache-control': 'no-store',
        'referrer-policy': 'no-referrer',
      },
    });
  },
);
