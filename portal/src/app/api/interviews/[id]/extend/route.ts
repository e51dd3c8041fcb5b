import { z } from 'zod';
import { route } from '@/lib/http/route';
import { extendInterviewSchema, interviewIdSchema } from '@/lib/interviews/schemas';

export const dynamic = 'force-dynamic';

export const POST = route(
  { auth: 'admin', params: z.object({ id: interviewIdSchema }), body: extendInterviewSchema },
  ({ params, body, runtime }) => runtime.interviews.extend(params.id, body),
);
