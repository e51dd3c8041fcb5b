import { z } from 'zod';
import { route } from '@/lib/http/route';
import { operationEventStream } from '@/lib/events/sse';

export const dynamic = 'force-dynamic';
export const runtime = 'nodejs';

// Create ids (`op_` + base62/hex) and the destroy id form both fit; the store answers 404.
const params = z.object({ id: z.string().regex(/^[A-Za-z0-9_-]{1,100}$/, 'not an operation id') });
const query = z.object({
  lastEventId: z
    .string()
    .regex(/^\d{1,15}$/, 'must be a sequence number')
    .optional(),
});

/** The operation's log as Server-Sent Events; resumes after `Last-Event-ID` (see lib/events/sse). */
export const GET = route({ auth: 'admin', params, query }, ({ params, request, runtime: rt }) =>
  operationEventStream(request, params.id, { hub: rt.hub, ...rt.eventSources }, { log: rt.log }),
);
