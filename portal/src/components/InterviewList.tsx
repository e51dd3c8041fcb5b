'use client';
import { useCallback, useEffect, useState } from 'react';
import { api, type Interview } from './api';
import { Countdown } from './Countdown';
import { CreateInterviewForm } from './CreateInterviewForm';

/** The interviewer's dashboard: interviews newest first, live through /api/events. */
export function InterviewList() {
  const [items, setItems] = useState<Interview[] | null>(null);
  const [error, setError] = useState<string | null>(null);

  const load = useCallback(async () => {
    try {
      const page = await api<{ items: Interview[] }>('/api/interviews?limit=100');
      setItems(page.items);
      setError(null);
    } catch (e) {
      setError((e as Error).message);
    }
  }, []);

  useEffect(() => {
    void load();
    const source = new EventSource('/api/events');
    const onChange = (ev: MessageEvent) => {
      try {
        const event = JSON.parse(ev.data);
        if (event.type === 'interview.updated' && event.data?.id) {
          setItems((prev) => {
            if (!prev) return prev;
            const i = prev.findIndex((x) => x.id === event.data.id);
            if (i === -1) return [event.data as Interview, ...prev];
            const next = [...prev];
            next[i] = { ...next[i], ...(event.data as Interview) };
            return next;
          });
        }
      } catch {
        // ignore malformed frames
      }
    };
    source.addEventListener('interview.updated', onChange);
    source.onmessage = onChange;
    return () => source.close();
  }, [load]);

  return (
    <>
      <CreateInterviewForm onCreated={(iv) => setItems((prev) => [iv, ...(prev ?? [])])} />
      <section className="card">
        <h2>Interviews</h2>
        {error && (
          <p role="alert" className="error">
            Could not load interviews: {error}{' '}
            <button className="secondary" onClick={() => void load()}>
              Retry
            </button>
          </p>
        )}
        {items === null && !error && <p className="muted">Loading…</p>}
        {items?.length === 0 && <p className="muted">No interviews yet. Schedule one above.</p>}
        {items && items.length > 0 && (
          <table>
            <thead>
              <tr>
                <th scope="col">Candidate</th>
                <th scope="col">Challenge</th>
                <th scope="col">Starts</th>
                <th scope="col">Time left</th>
                <th scope="col">Status</th>
              </tr>
            </thead>
            <tbody>
              {items.map((iv) => (
                <tr key={iv.id}>
                  <td>
                    <a href={`/interviews/${iv.id}`}>{iv.candidateName}</a>
                  </td>
                  <td>{iv.challengeId}</td>
                  <td>{new Date(iv.scheduledAt).toLocaleString()}</td>
                  <td>
                    <Countdown until={iv.deadlineAt} label={`time left for ${iv.candidateName}`} />
                  </td>
                  <td className="status">{iv.status}</td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </section>
    </>
  );
}
