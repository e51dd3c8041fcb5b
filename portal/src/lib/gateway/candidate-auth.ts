import { aiUnavailable } from '../http/errors';
import type { Runtime } from '../runtime';
import type { Gateway } from './gateway';

/**
 * The candidate's side routes (usage, transcript, events) accept only the interview's gateway
 * token, like the chat endpoint: the interview it names is the only one they can read.
 */
export async function candidateOf(
  rt: Pick<Runtime, 'gateway'>,
  request: Request,
): Promise<{ gateway: Gateway; interviewId: string }> {
  const gateway = rt.gateway;
  if (!gateway) throw aiUnavailable();
  return { gateway, interviewId: await gateway.authenticate(request.headers.get('authorization')) };
}
