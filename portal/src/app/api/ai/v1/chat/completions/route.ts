import { getRuntime } from '@/lib/runtime';

export const dynamic = 'force-dynamic';
export const runtime = 'nodejs';

/**
 * OpenAI-compatible chat completions for the candidate's IDE, authenticated only by the
 * interview's gateway token (`Authorization: Bearer`). Everything happens in lib/gateway; this
 * file must stay free of value imports from it (tiktoken, workers) — it reaches the gateway
 * through the runtime.
 */
export async function POST(request: Request): Promise<Response> {
  const gateway = getRuntime().gateway;
  if (!gateway) return unavailable();
  return gateway.handleChatCompletions(request);
}

function unavailable(): Response {
  return Response.json({ error: { code: 'ai_unavailable', message: 'The AI gateway is not running in this portal process' } }, { status: 503 });
}
