'use client';
import { useCallback, useEffect, useState } from 'react';
import { api, type AiUsage, type Interview } from './api';
import { AiPanel } from './AiPanel';
import { Countdown } from './Countdown';
import { OperationLog } from './OperationLog';
import { ErrorAlert } from '@/components/ErrorAlert';

/** One interview: status, countdown, controls, the AI meter, and its operations' live logs. */
export function InterviewDetail({ id }: { id: string }) {
  const [iv, setIv] = useState<Interview | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const [usage, setUsage] = useState<AiUsage | null>(null);

  const load = useCallback(async () => {
    try {
      setIv(await api<Interview>(`/api/interviews/${encodeURIComponent(id)}`));
    } catch (e) {
      setError((e as Error).message);
    }
  }, [id]);

  useEffect(() => {
    void load();
    // This interview's stream: status changes and the AI meter (the first frame is the current meter).
    const source = new EventSource(`/api/interviews/${encodeURIComponent(id)}/events`);
    const parse = (ev: Event) => {
      try {
        return JSON.parse((ev as MessageEvent).data);
      } catch {
        return null; // ignore malformed frames
      }
    };
    source.addEventListener('interview.updated', (ev) => {
      const event = parse(ev);
      if (event?.data?.id === id) setIv((prev) => ({ ...(prev as Interview), ...event.data }));
    });
    source.addEventListener('interview.usage', (ev) => {
      const event = parse(ev);
      if (event?.data) setUsage((prev) => (prev && prev.at > event.data.at ? prev : event.data));
    });
    return () => source.close();
  }, [id, load]);

  async function act(path: string, json: unknown, confirmText?: string) {
    if (confirmText && !confirm(confirmText)) return;
    setBusy(true);
    setError(null);
    try {
      const updated = await api<Interview & { usage?: AiUsage }>(
        `/api/interviews/${encodeURIComponent(id)}/${path}`,
        { json },
      );
      setIv(updated);
      if (updated.usage) setUsage(updated.usage);
    } catch (e) {
      setError((e as Error).message);
    } finally {
      setBusy(false);
    }
  }

  if (!iv)
    return (
      <section className="card">
        {error ? <ErrorAlert>{error}</ErrorAlert> : <p className="muted">Loading…</p>}
      </section>
    );
  const ended =
    ['ended', 'failed', 'cancelled'].includes(iv.status) || Boolean(iv.destroyOperationId);
  return (
    <>
      <section className="card">
        <h1>{iv.candidateName}</h1>
        <p>
          <span className="status">{iv.status}</span> · {iv.challengeId} · starts{' '}
          {new Date(iv.scheduledAt).toLocaleString()} · time left{' '}
          <Countdown until={iv.deadlineAt} label="time left" /> · AI budget{' '}
          {iv.ai.tokenBudget.toLocaleString()} tokens
          {usage && ` (${usage.remaining.toLocaleString()} left)`}
        </p>
        {iv.candidateUrl && (
          <p>
            Candidate link: <code>{iv.candidateUrl}</code>
          </p>
        )}
        <div style={{ display: 'flex', gap: '0.5rem', flexWrap: 'wrap' }}>
          <button
            className="secondary"
            disabled={busy || ended}
            onClick={() => act('extend', { minutes: 15 })}
          >
            +15 minutes
          </button>
          <button
            className="secondary"
            disabled={busy || ended}
            onClick={() => act('extend', { tokens: 10000 })}
          >
            +10,000 tokens
          </button>
          <button
            disabled={busy || ended}
            onClick={() =>
              act(
                'destroy',
                {},
                'End this interview now? The workspace is archived and the IDE destroyed.',
              )
            }
          >
            End interview
          </button>
        </div>
        <ErrorAlert>{error}</ErrorAlert>
      </section>
      <AiPanel interviewId={id} usage={usage} live={!ended} onUsage={setUsage} />
      <OperationLog operationId={iv.operationId} title="Provisioning" />
      {iv.destroyOperationId && (
        <OperationLog operationId={iv.destroyOperationId} title="Teardown" />
      )}
    </>
  );
}
