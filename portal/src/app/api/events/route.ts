import { z } from 'zod';
import { route } from '@/lib/http/route';
import { globalEventStream } from '@/lib/events/sse';
import { FEED_ID_PATTERN } from '@/lib/store/events';

export const dynamic = 'force-dynamic';
export const runtime = 'nodejs';

const query = z.object({
  lastEventId: z.string().regex(FEED_ID_PATTERN, 'must be an event id from this stream').optional(),
});

/** Portal-wide changes (interviews, operations) as Server-Sent Events; resumes after `Last-Event-ID`. */
export const GET = route({ auth: 'admin', query }, ({ request, runtime: rt }) =>
  globalEventStream(request, { hub: rt.hub, feed: rt.eventSources.feed }, { log: rt.log }),
);
