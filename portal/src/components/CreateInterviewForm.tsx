'use client';
import { useEffect, useState, type FormEvent } from 'react';
import { api, ApiFailure, type Challenge, type Interview } from './api';

/** Schedules an interview; shows the API's field errors next to the form. */
export function CreateInterviewForm({ onCreated }: { onCreated: (iv: Interview) => void }) {
  const [challenges, setChallenges] = useState<Challenge[] | null>(null);
  const [form, setForm] = useState({
    candidateName: '',
    candidateEmail: '',
    challengeId: '',
    start: '',
    durationMinutes: 60,
    tokenBudget: 50000,
  });
  const [error, setError] = useState<{ message: string; fields?: Record<string, string> } | null>(
    null,
  );
  const [busy, setBusy] = useState(false);

  useEffect(() => {
    api<{ items: Challenge[] }>('/api/challenges')
      .then((r) => {
        setChallenges(r.items);
        setForm((f) => ({ ...f, challengeId: f.challengeId || r.items[0]?.id || '' }));
      })
      .catch((e) => setError({ message: `Could not load challenges: ${(e as Error).message}` }));
  }, []);

  async function submit(e: FormEvent) {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const iv = await api<Interview>('/api/interviews', {
        json: {
          candidateName: form.candidateName,
          ...(form.candidateEmail && { candidateEmail: form.candidateEmail }),
          challengeId: form.challengeId,
          ...(form.start && { scheduledAt: new Date(form.start).toISOString() }),
          durationMinutes: Number(form.durationMinutes),
          ai: { tokenBudget: Number(form.tokenBudget) },
        },
      });
      onCreated(iv);
      setForm((f) => ({ ...f, candidateName: '', candidateEmail: '' }));
    } catch (err) {
      setError(
        err instanceof ApiFailure
          ? { message: err.message, fields: err.fields }
          : { message: 'Failed' },
      );
    } finally {
      setBusy(false);
    }
  }

  const set = (k: keyof typeof form) => (e: { target: { value: string } }) =>
    setForm((f) => ({ ...f, [k]: e.target.value }));
  return (
    <section className="card">
      <h2>Schedule an interview</h2>
      <form onSubmit={submit} aria-describedby={error ? 'create-error' : undefined}>
        <div
          style={{
            display: 'grid',
            gridTemplateColumns: 'repeat(auto-fit, minmax(17rem, 1fr))',
            gap: '0 1rem',
          }}
        >
          <div>
            <label htmlFor="candidateName">Candidate name</label>
            <input
              id="candidateName"
              value={form.candidateName}
              onChange={set('candidateName')}
              required
              maxLength={200}
            />
          </div>
          <div>
            <label htmlFor="candidateEmail">Candidate email (optional)</label>
            <input
              id="candidateEmail"
              type="email"
              value={form.candidateEmail}
              onChange={set('candidateEmail')}
            />
          </div>
          <div>
            <label htmlFor="challengeId">Challenge</label>
            <select
              id="challengeId"
              value={form.challengeId}
              onChange={set('challengeId')}
              required
              disabled={!challenges}
            >
              {challenges?.map((c) => (
                <option key={c.id} value={c.id}>
                  {c.title} ({c.language}, {c.difficulty})
                </option>
              ))}
            </select>
          </div>
          <div>
            <label htmlFor="start">Start (empty = now)</label>
            <input id="start" type="datetime-local" value={form.start} onChange={set('start')} />
          </div>
          <div>
            <label htmlFor="durationMinutes">Duration (minutes)</label>
            <input
              id="durationMinutes"
              type="number"
              min={5}
              max={480}
              value={form.durationMinutes}
              onChange={set('durationMinutes')}
              required
            />
          </div>
          <div>
            <label htmlFor="tokenBudget">AI token budget</label>
            <input
              id="tokenBudget"
              type="number"
              min={0}
              max={10000000}
              value={form.tokenBudget}
              onChange={set('tokenBudget')}
              required
            />
          </div>
        </div>
        <div style={{ marginTop: '1rem' }}>
          <button type="submit" disabled={busy || !challenges}>
            {busy ? 'Scheduling…' : 'Schedule interview'}
          </button>
        </div>
        {error && (
          <div id="create-error" role="alert" className="error">
            <p>{error.message}</p>
            {error.fields && (
              <ul>
                {Object.entries(error.fields).map(([k, v]) => (
                  <li key={k}>
                    {k.replace(/^body\./, '')}: {v}
                  </li>
                ))}
              </ul>
            )}
          </div>
        )}
      </form>
    </section>
  );
}
