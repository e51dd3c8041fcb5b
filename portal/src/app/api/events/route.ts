import { route } from '@/lib/http/route';
import { globalEventStream, feedResumeQuery } from '@/lib/events/sse';

export const dynamic = 'force-dynamic';
export const runtime = 'nodejs';

/** Portal-wide changes (interviews, operations) as Server-Sent Events; resumes after `Last-Event-ID`. */
export const GET = route({ auth: 'admin', query: feedResumeQuery }, ({ request, runtime: rt }) =>
  globalEventStream(request, { hub: rt.hub, feed: rt.eventSources.feed }, { log: rt.log }),
);
