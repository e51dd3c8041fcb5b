import { z } from 'zod';
import { route } from '@/lib/http/route';
import { interviewIdSchema } from '@/lib/interviews/schemas';

export const dynamic = 'force-dynamic';
export const runtime = 'nodejs';

/** The interview's AI token meter: budget, used (in/out), reserved, remaining, deadline, endedAt. */
export const GET = route(
  { auth: 'admin', params: z.object({ id: interviewIdSchema }) },
  ({ params, runtime }) => runtime.interviews.aiUsage(params.id),
);
