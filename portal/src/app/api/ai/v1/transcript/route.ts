import { route } from '@/lib/http/route';
import { transcriptPageQuery } from '@/lib/gateway/transcript';
import { candidateOf } from '@/lib/gateway/candidate-auth';

export const dynamic = 'force-dynamic';
export const runtime = 'nodejs';

/** The candidate's own AI conversation (gateway token auth), oldest first; page with `cursor`. */
export const GET = route(
  { auth: 'public', query: transcriptPageQuery },
  async ({ request, query, runtime }) => {
    const { gateway, interviewId } = await candidateOf(runtime, request);
    return gateway.transcriptPage(interviewId, query);
  },
);
