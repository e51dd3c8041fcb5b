import { z } from 'zod';
import { route } from '@/lib/http/route';
import { interviewIdSchema } from '@/lib/interviews/schemas';

export const dynamic = 'force-dynamic';
export const runtime = 'nodejs';

/** Ends the candidate's AI access now (running answers are cut; the IDE stays). Idempotent; audited. */
export const POST = route(
  { auth: 'admin', params: z.object({ id: interviewIdSchema }) },
  ({ params, runtime }) => runtime.interviews.endAiAccess(params.id),
);
