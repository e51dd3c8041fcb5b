'use client';
import { useState } from 'react';
import { api, type AiUsage, type TranscriptMessage } from './api';
import { ErrorAlert } from '@/components/ErrorAlert';

const n = (v: number) => v.toLocaleString();

/**
 * The interview's AI assistant for the interviewer: the live token meter (fed by the page's
 * interview stream), ending AI access early, and the conversation on demand.
 */
export function AiPanel({
  interviewId,
  usage,
  live,
  onUsage,
}: {
  interviewId: string;
  usage: AiUsage | null;
  live: boolean;
  onUsage: (u: AiUsage) => void;
}) {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [transcript, setTranscript] = useState<TranscriptMessage[] | null>(null);

  async function endAccess() {
    if (
      !confirm(
        'End the candidate’s AI access now? Answers in progress are cut; the IDE stays open.',
      )
    )
      return;
    setBusy(true);
    setError(null);
    try {
      onUsage(
        await api<AiUsage>(`/api/interviews/${encodeURIComponent(interviewId)}/ai/end`, {
          method: 'POST',
        }),
      );
    } catch (e) {
      setError((e as Error).message);
    } finally {
      setBusy(false);
    }
  }

  async function loadTranscript() {
    setError(null);
    try {
      const page = await api<{ messages: TranscriptMessage[] }>(
        `/api/interviews/${encodeURIComponent(interviewId)}/transcript?limit=500`,
      );
      setTranscript(page.messages);
    } catch (e) {
      setError((e as Error).message);
    }
  }

  const ended = usage?.endedAt !== undefined;
  return (
    <section className="card" aria-labelledby="ai-heading">
      <h2 id="ai-heading">AI assistant</h2>
      {!usage ? (
        <p className="muted">No usage yet.</p>
      ) : (
        <>
          <label htmlFor="ai-meter">
            {n(usage.used)} of {n(usage.budget)} tokens used
            {usage.reserved > 0 && ` · ${n(usage.reserved)} reserved`} · {n(usage.remaining)} left
          </label>
          <meter
            id="ai-meter"
            min={0}
            max={Math.max(usage.budget, 1)}
            value={usage.used}
            low={usage.budget * 0.7}
            high={usage.budget * 0.9}
            optimum={0}
            style={{ width: '100%' }}
          />
          <p className="muted">
            {n(usage.requests)} requests ({n(usage.usedIn)} prompt, {n(usage.usedOut)} completion
            tokens)
            {usage.estimatedRequests > 0 &&
              ` · ${n(usage.estimatedRequests)} estimated (stopped before the provider reported usage)`}
            {ended && ` · access ended ${new Date(usage.endedAt!).toLocaleTimeString()}`}
          </p>
        </>
      )}
      <div style={{ display: 'flex', gap: '0.5rem', flexWrap: 'wrap' }}>
        <button
          className="secondary"
          disabled={busy || !live || ended || !usage}
          onClick={endAccess}
        >
          End AI access
        </button>
        <button className="secondary" onClick={loadTranscript}>
          {transcript ? 'Refresh conversation' : 'Show conversation'}
        </button>
      </div>
      <ErrorAlert>{error}</ErrorAlert>
      {transcript &&
        (transcript.length === 0 ? (
          <p className="muted">The candidate has not used the assistant.</p>
        ) : (
          <ol aria-label="Conversation" style={{ paddingLeft: '1.25rem' }}>
            {transcript.map((m) => (
              <li key={m.id}>
                <strong>{m.role}</strong>{' '}
                <span className="muted">{new Date(m.at).toLocaleTimeString()}</span>
                {m.role === 'assistant' && (
                  <span className="muted">
                    {' '}
                    · {m.tokensIn ?? 0} in / {m.tokensOut ?? 0} out
                    {m.estimated ? ' (estimated)' : ''} · {m.status}
                    {m.error && ` · ${m.error}`}
                  </span>
                )}
                <pre style={{ whiteSpace: 'pre-wrap' }}>{m.content}</pre>
              </li>
            ))}
          </ol>
        ))}
    </section>
  );
}
