import { z } from 'zod';
import { route } from '@/lib/http/route';
import { candidateOf } from '@/lib/gateway/candidate-auth';

export const dynamic = 'force-dynamic';
export const runtime = 'nodejs';

const query = z.object({
  cursor: z.string().max(200).optional(),
  limit: z.coerce.number().int().min(1).max(500).default(200),
});

/** The candidate's own AI conversation (gateway token auth), oldest first; page with `cursor`. */
export const GET = route({ auth: 'public', query }, async ({ request, query, runtime }) => {
  const { gateway, interviewId } = await candidateOf(runtime, request);
  return gateway.transcriptPage(interviewId, query);
});
