'use client';

/** Browser-side API calls: same origin, session cookie, the one error shape. */
export class ApiFailure extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly fields?: Record<string, string>,
  ) {
    super(message);
  }
}

export async function api<T>(
  path: string,
  init: { method?: string; json?: unknown } = {},
): Promise<T> {
  const res = await fetch(path, {
    method: init.method ?? (init.json !== undefined ? 'POST' : 'GET'),
    headers: init.json !== undefined ? { 'content-type': 'application/json' } : undefined,
    body: init.json !== undefined ? JSON.stringify(init.json) : undefined,
    credentials: 'same-origin',
  });
  const body = await res.json().catch(() => null);
  if (
    res.status === 401 &&
    typeof window !== 'undefined' &&
    !location.pathname.startsWith('/login')
  ) {
    location.href = `/login?next=${encodeURIComponent(location.pathname)}`;
  }
  if (!res.ok) {
    const e = body?.error ?? {};
    throw new ApiFailure(res.status, e.code ?? 'error', e.message ?? res.statusText, e.fields);
  }
  return body as T;
}

export interface Interview {
  id: string;
  candidateName: string;
  candidateEmail?: string;
  challengeId: string;
  status: string;
  scheduledAt: string;
  deadlineAt: string;
  durationMinutes: number;
  ai: { tokenBudget: number; model?: string };
  createdAt: string;
  operationId: string;
  destroyOperationId?: string;
  candidateUrl?: string;
}

export interface Challenge {
  id: string;
  title: string;
  difficulty: string;
  language: string;
  minutes: number;
  summary?: string;
}

/** The AI token meter (GET /api/interviews/:id/ai, `interview.usage` events). */
export type { UsageSnapshot as AiUsage } from '@/lib/gateway/ledger';

/** One message of an interview's AI conversation (GET /api/interviews/:id/transcript). */
export type { TranscriptMessage } from '@/lib/gateway/transcript';
