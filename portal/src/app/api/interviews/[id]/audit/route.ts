import { z } from 'zod';
import { route } from '@/lib/http/route';
import { interviewIdSchema } from '@/lib/interviews/schemas';

export const dynamic = 'force-dynamic';
export const runtime = 'nodejs';

const query = z.object({
  cursor: z
    .string()
    .regex(/^\d{13}#[A-Za-z0-9_-]{1,16}$/, 'not a cursor from this API')
    .optional(),
  limit: z.coerce.number().int().min(1).max(500).default(100),
});

/** The interview's audit trail, oldest first: who created, extended or ended it, AI access, candidate link use. */
export const GET = route(
  { auth: 'admin', params: z.object({ id: interviewIdSchema }), query },
  async ({ params, query, runtime }) => {
    await runtime.interviews.mustExist(params.id);
    const page = await runtime.audit.forInterview(params.id, query.limit, query.cursor);
    return {
      entries: page.items.map(({ subject: _s, ...e }) => e),
      ...(page.cursor && { nextCursor: page.cursor }),
    };
  },
);
