import { z } from 'zod';
import { route } from '@/lib/http/route';
import { interviewIdSchema } from '@/lib/interviews/schemas';

export const dynamic = 'force-dynamic';

export const GET = route(
  { auth: 'admin', params: z.object({ id: interviewIdSchema }) },
  ({ params, runtime }) => runtime.interviews.get(params.id),
);
