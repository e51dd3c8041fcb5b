import { PermanentError, type HandlerResult } from './handlers';

/** Why a runner's AbortSignal fired. */
export type AbortKind = 'cancelled' | 'shutdown' | 'lease-lost';

export type Settled = { ok: true; value: HandlerResult } | { ok: false; error: unknown };

export type Verdict =
  | { kind: 'finish'; status: 'completed'; result?: Record<string, unknown> }
  | { kind: 'finish'; status: 'failed' | 'cancelled'; error: string }
  | { kind: 'requeue'; scheduledAt: number; error: string; release: boolean }
  | { kind: 'abandon'; reason: string };

export interface OutcomeInput {
  settled: Settled;
  abort?: { kind: AbortKind; reason: string };
  attempt: number;
  maxAttempts: number;
  now: number;
  backoffMs(attempt: number): number;
}

const message = (e: unknown) => (e instanceof Error ? e.message : String(e));

/**
 * What the runner writes after its handler settled. Pure: no store, no clock.
 * - lost lease: write nothing (someone else owns the operation now);
 * - a handler result stands, even if an abort arrived after the work was done;
 * - cancel → cancelled; shutdown → released back to the queue (the attempt is not counted);
 * - errors retry with backoff until attempts run out (PermanentError fails at once).
 */
export function decideOutcome(i: OutcomeInput): Verdict {
  if (i.abort?.kind === 'lease-lost') return { kind: 'abandon', reason: i.abort.reason };
  if (i.settled.ok) {
    const v = i.settled.value;
    return v.status === 'completed'
      ? { kind: 'finish', status: 'completed', ...(v.result && { result: v.result }) }
      : { kind: 'finish', status: 'cancelled', error: v.reason };
  }
  if (i.abort?.kind === 'cancelled')
    return { kind: 'finish', status: 'cancelled', error: i.abort.reason };
  if (i.abort?.kind === 'shutdown') {
    return { kind: 'requeue', scheduledAt: i.now, error: i.abort.reason, release: true };
  }
  const error = message(i.settled.error);
  if (i.settled.error instanceof PermanentError) return { kind: 'finish', status: 'failed', error };
  if (i.attempt >= i.maxAttempts) {
    return {
      kind: 'finish',
      status: 'failed',
      error: `attempt ${i.attempt} of ${i.maxAttempts} failed: ${error}`,
    };
  }
  return {
    kind: 'requeue',
    scheduledAt: i.now + i.backoffMs(i.attempt),
    error: `attempt ${i.attempt} of ${i.maxAttempts} failed: ${error}`,
    release: false,
  };
}
