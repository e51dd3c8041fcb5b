import { route } from '@/lib/http/route';
import { candidateOf } from '@/lib/gateway/candidate-auth';

export const dynamic = 'force-dynamic';
export const runtime = 'nodejs';

/** The candidate's own AI meter (gateway token auth): budget, used, reserved, remaining, deadline. */
export const GET = route({ auth: 'public' }, async ({ request, runtime }) => {
  const { gateway, interviewId } = await candidateOf(runtime, request);
  return gateway.usage(interviewId);
});
