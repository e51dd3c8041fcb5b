import { getRuntime } from '@/lib/runtime';

export const dynamic = 'force-dynamic';
export const runtime = 'nodejs';

/** OpenAI-compatible model list: the models this interview may use (gateway token auth). */
export async function GET(request: Request): Promise<Response> {
  const gateway = getRuntime().gateway;
  if (!gateway) {
    return Response.json({ error: { code: 'ai_unavailable', message: 'The AI gateway is not running in this portal process' } }, { status: 503 });
  }
  return gateway.handleModels(request);
}
