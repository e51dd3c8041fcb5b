import { feedResumeQuery } from '@/lib/events/sse';
import { route } from '@/lib/http/route';
import { candidateOf } from '@/lib/gateway/candidate-auth';
import { candidateUsageStream } from '@/lib/interviews/streams';

export const dynamic = 'force-dynamic';
export const runtime = 'nodejs';

/**
 * The candidate's live AI meter as SSE (gateway token auth): `usage` events — the current meter
 * first, then every change, including the interviewer's extensions and end of access.
 */
export const GET = route(
  { auth: 'public', query: feedResumeQuery },
  async ({ request, runtime: rt }) => {
    const { gateway, interviewId } = await candidateOf(rt, request);
    return candidateUsageStream(
      request,
      interviewId,
      { hub: rt.hub, feed: rt.eventSources.feed, usage: () => gateway.usage(interviewId) },
      { log: rt.log },
    );
  },
);
