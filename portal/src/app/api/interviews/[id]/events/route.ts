import { z } from 'zod';
import { feedResumeQuery } from '@/lib/events/sse';
import { route } from '@/lib/http/route';
import { interviewIdSchema } from '@/lib/interviews/schemas';
import { interviewEventStream } from '@/lib/interviews/streams';

export const dynamic = 'force-dynamic';
export const runtime = 'nodejs';

const params = z.object({ id: interviewIdSchema });
/** One interview's changes as SSE: status, operations and the AI meter (`interview.usage`); resumes after Last-Event-ID. */
export const GET = route(
  { auth: 'admin', params, query: feedResumeQuery },
  async ({ params, request, runtime: rt }) => {
    await rt.interviews.mustExist(params.id);
    return interviewEventStream(
      request,
      params.id,
      { hub: rt.hub, feed: rt.eventSources.feed, usage: () => rt.interviews.aiUsage(params.id) },
      { log: rt.log },
    );
  },
);
