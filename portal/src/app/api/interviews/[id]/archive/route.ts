import { z } from 'zod';
import { route } from '@/lib/http/route';
import { interviewIdSchema } from '@/lib/interviews/schemas';
import { interviewArchivesFor } from '@/lib/interviews/archive';

export const dynamic = 'force-dynamic';

/** Downloads the candidate's archived workspace (tar.gz); 404 until the interview's archive exists. */
export const GET = route(
  { auth: 'admin', params: z.object({ id: interviewIdSchema }) },
  async ({ params, runtime }) => {
    const archive = await interviewArchivesFor(runtime).open(params.id);
    return new Response(archive.body, {
      headers: {
        'content-type': 'application/gzip',
        'content-length': String(archive.bytes),
        'content-disposition': `attachment; filename="${archive.filename}"`,
        'cache-control': 'no-store',
      },
    });
  },
);
