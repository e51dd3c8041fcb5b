import { z } from 'zod';
import { route } from '@/lib/http/route';
import { operationIdSchema } from '@/lib/operations/schemas';
import { notFound } from '@/lib/http/errors';
import { toOperationView } from '@/lib/operations/view';

export const dynamic = 'force-dynamic';

/** An operation with one page of its log (`afterSeq` to page forward). */
export const GET = route(
  {
    auth: 'admin',
    params: z.object({ id: operationIdSchema }),
    query: z
      .object({
        afterSeq: z.coerce.number().int().min(0).default(0),
        limit: z.coerce.number().int().min(1).max(1000).default(200),
      })
      .strict(),
  },
  async ({ params, query, runtime }) => {
    const op = await runtime.engine.get(params.id);
    if (!op) throw notFound('Operation');
    const entries = await runtime.engine.logs(params.id, query.afterSeq, query.limit);
    const last = entries.at(-1)?.seq;
    return {
      ...toOperationView(op),
      logs: {
        entries,
        ...(entries.length === query.limit && last !== undefined && { nextAfterSeq: last }),
      },
    };
  },
);
