import { z } from 'zod';
import { aiUnavailable } from '@/lib/http/errors';
import { route } from '@/lib/http/route';
import { transcriptPageQuery } from '@/lib/gateway/transcript';
import { interviewIdSchema } from '@/lib/interviews/schemas';

export const dynamic = 'force-dynamic';
export const runtime = 'nodejs';

const params = z.object({ id: interviewIdSchema });

/** The interview's AI conversation (interviewer only), oldest first; page with `cursor`. */
export const GET = route(
  { auth: 'admin', params, query: transcriptPageQuery },
  async ({ params, query, runtime }) => {
    await runtime.interviews.mustExist(params.id);
    if (!runtime.gateway) throw aiUnavailable();
    return runtime.gateway.transcriptPage(params.id, query);
  },
);
