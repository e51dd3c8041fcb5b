import { route } from '@/lib/http/route';

export const dynamic = 'force-dynamic';

export const GET = route({ auth: 'admin' }, async ({ runtime }) => ({
  items: await runtime.challenges.list(),
}));
