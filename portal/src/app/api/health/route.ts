import { route } from '@/lib/http/route';
import { checkHealth } from '@/lib/health';

export const dynamic = 'force-dynamic';

/** Liveness and readiness: database reachable, scheduler ticking. 503 when degraded. */
export const GET = route({ auth: 'public' }, async ({ runtime }) => {
  const health = await checkHealth(runtime);
  return Response.json(health, { status: health.status === 'ok' ? 200 : 503 });
});
