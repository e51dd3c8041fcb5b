import { route } from '@/lib/http/route';
import { createInterviewSchema, listInterviewsQuerySchema } from '@/lib/interviews/schemas';

export const dynamic = 'force-dynamic';

export const POST = route(
  { auth: 'admin', body: createInterviewSchema },
  async ({ body, runtime }) =>
    Response.json(await runtime.interviews.create(body, 'admin'), { status: 201 }),
);

export const GET = route(
  { auth: 'admin', query: listInterviewsQuerySchema },
  ({ query, runtime }) => runtime.interviews.list('admin', query.limit, query.cursor),
);
