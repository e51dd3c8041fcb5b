import { z } from 'zod';
import { route } from '@/lib/http/route';
import { candidateOf } from '@/lib/gateway/candidate-auth';
import { candidateUsageStream } from '@/lib/interviews/streams';
import { FEED_ID_PATTERN } from '@/lib/store/events';

export const dynamic = 'force-dynamic';
export const runtime = 'nodejs';

const query = z.object({
  lastEventId: z.string().regex(FEED_ID_PATTERN, 'must be an event id from this stream').optional(),
});

/**
 * The candidate's live AI meter as SSE (gateway token auth): `usage` events — the current meter
 * first, then every change, including the interviewer's extensions and end of access.
 */
export const GET = route({ auth: 'public', query }, async ({ request, runtime: rt }) => {
  const { gateway, interviewId } = await candidateOf(rt, request);
  return candidateUsageStream(
    request,
    interviewId,
    { hub: rt.hub, feed: rt.eventSources.feed, usage: () => gateway.usage(interviewId) },
    { log: rt.log },
  );
});
