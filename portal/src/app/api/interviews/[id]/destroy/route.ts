import { z } from 'zod';
import { route } from '@/lib/http/route';
import { interviewIdSchema } from '@/lib/interviews/schemas';

export const dynamic = 'force-dynamic';

/** Ends the interview now (idempotent: the interview has exactly one destroy operation). */
export const POST = route(
  { auth: 'admin', params: z.object({ id: interviewIdSchema }) },
  async ({ params, runtime }) =>
    Response.json(await runtime.interviews.destroy(params.id), { status: 202 }),
);
