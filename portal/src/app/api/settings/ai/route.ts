import { z } from 'zod';
import { aiUnavailable } from '@/lib/http/errors';
import { route } from '@/lib/http/route';
import type { Runtime } from '@/lib/runtime';

export const dynamic = 'force-dynamic';
export const runtime = 'nodejs';

/** Mirrors lib/gateway/settings.ts `aiSettingsBody` (kept here so the route imports no gateway code). */
const body = z.strictObject({
  apiKey: z
    .string()
    .min(8, 'at least 8 characters')
    .max(512, 'at most 512 characters')
    .regex(/^\S+$/, 'no whitespace')
    .optional(),
  baseUrl: z.url().max(2000).nullable().optional(),
});

function gateway(rt: Runtime) {
  if (!rt.gateway) throw aiUnavailable();
  return rt.gateway;
}

/** The organisation's LLM provider: whether a key is configured, where from, masked. Never the key. */
export const GET = route({ auth: 'admin' }, ({ runtime }) => gateway(runtime).settingsView());

/** Saves the provider key (encrypted at rest) and/or base URL; answers with the masked view. */
export const PUT = route({ auth: 'admin', body }, ({ runtime, body }) =>
  gateway(runtime).saveSettings(body),
);

/** Forgets the stored key (OPENAI_API_KEY, if set, applies again). */
export const DELETE = route({ auth: 'admin' }, ({ runtime }) => gateway(runtime).clearSettings());
