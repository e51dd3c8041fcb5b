import { GetCommand } from '@aws-sdk/lib-dynamodb';
import type { Runtime } from './runtime';

export interface Health {
  status: 'ok' | 'degraded';
  database: { ok: boolean; latencyMs?: number; error?: string };
  scheduler: { enabled: boolean; lastTickAt?: string; lastTickAgeMs?: number; ok: boolean };
  warnings: string[];
}

/** What `/api/health` reports. Cheap: one key read and in-memory state. */
export async function checkHealth(runtime: Runtime, now = Date.now()): Promise<Health> {
  const warnings: string[] = [];
  const database: Health['database'] = { ok: false };
  const started = performance.now();
  try {
    await runtime.db.send(
      new GetCommand({ TableName: runtime.config.tables.interviews, Key: { id: '__health__' } }),
    );
    database.ok = true;
    database.latencyMs = Math.round((performance.now() - started) * 10) / 10;
  } catch (e) {
    database.error = (e as Error).name || 'unreachable';
  }

  const tick = runtime.scheduler?.lastTick();
  const enabled = Boolean(runtime.scheduler);
  // A tick older than a few polls means the loop is stuck.
  const staleAfter = Math.max(10_000, runtime.config.SCHEDULER_POLL_MS * 5);
  const scheduler: Health['scheduler'] = {
    enabled,
    ok: !enabled || (tick !== undefined && tick !== null && now - tick.at < staleAfter),
    ...(tick && { lastTickAt: new Date(tick.at).toISOString(), lastTickAgeMs: now - tick.at }),
  };
  const problems = await runtime.challenges.problems();
  for (const p of problems) warnings.push(`challenge ${p.dir}: ${p.reason}`);
  warnings.push(...(runtime.warnings ?? []));
  return {
    status: database.ok && scheduler.ok ? 'ok' : 'degraded',
    database,
    scheduler,
    warnings,
  };
}
