import { z } from 'zod';
import { route } from '@/lib/http/route';
import { operationIdSchema } from '@/lib/operations/schemas';
import { toOperationView } from '@/lib/operations/view';

export const dynamic = 'force-dynamic';

/** Cancels an operation: a queued one at once; a running one is aborted within a heartbeat. */
export const POST = route(
  { auth: 'admin', params: z.object({ id: operationIdSchema }) },
  async ({ params, runtime }) => {
    const { operation, outcome } = await runtime.engine.cancel(params.id);
    return Response.json({ ...toOperationView(operation), outcome }, { status: 202 });
  },
);
