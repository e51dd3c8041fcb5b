import { z } from 'zod';
import { ApiError } from '@/lib/http/errors';
import { route } from '@/lib/http/route';
import { interviewIdSchema } from '@/lib/interviews/schemas';

export const dynamic = 'force-dynamic';
export const runtime = 'nodejs';

const params = z.object({ id: interviewIdSchema });
const query = z.object({
  cursor: z.string().max(200).optional(),
  limit: z.coerce.number().int().min(1).max(500).default(200),
});

/** The interview's AI conversation (interviewer only), oldest first; page with `cursor`. */
export const GET = route({ auth: 'admin', params, query }, async ({ params, query, runtime }) => {
  await runtime.interviews.get(params.id); // 404 for an unknown interview
  if (!runtime.gateway) throw new ApiError(503, 'ai_unavailable', 'The AI gateway is not running in this portal process');
  return runtime.gateway.transcriptPage(params.id, query);
});
