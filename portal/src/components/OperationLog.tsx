'use client';
import { useEffect, useRef, useState } from 'react';

interface Entry {
  seq: number;
  ts: number;
  kind: 'log' | 'status' | 'end';
  level?: string;
  message?: string;
  status?: string;
}

/** An operation's log and status, live over SSE (the browser resumes with Last-Event-ID). */
export function OperationLog({ operationId, title }: { operationId: string; title: string }) {
  const [entries, setEntries] = useState<Entry[]>([]);
  const [state, setState] = useState<'connecting' | 'live' | 'ended' | 'error'>('connecting');
  const seen = useRef(new Set<number>());

  useEffect(() => {
    const source = new EventSource(`/api/operations/${encodeURIComponent(operationId)}/events`);
    const add = (ev: MessageEvent) => {
      try {
        const e = JSON.parse(ev.data) as Entry;
        if (typeof e.seq !== 'number' || seen.current.has(e.seq)) return;
        seen.current.add(e.seq);
        setEntries((prev) => [...prev, e]);
      } catch {
        // ignore malformed frames
      }
    };
    source.onopen = () => setState('live');
    for (const type of ['log', 'status']) source.addEventListener(type, add as EventListener);
    source.onmessage = add;
    source.addEventListener('end', () => {
      setState('ended');
      source.close();
    });
    source.onerror = () => setState((s) => (s === 'ended' ? s : 'error'));
    return () => source.close();
  }, [operationId]);

  return (
    <section className="card" aria-live="polite">
      <h2>
        {title} <span className="muted">({state === 'error' ? 'reconnecting…' : state})</span>
      </h2>
      {entries.length === 0 ? (
        <p className="muted">No log lines yet.</p>
      ) : (
        <pre className="log">
          {entries.map((e) => (
            <div key={e.seq}>
              {new Date(e.ts).toLocaleTimeString()}{' '}
              {e.kind === 'log'
                ? `[${e.level}] ${e.message}`
                : `— ${e.kind}: ${e.status ?? ''}${e.message ? ` (${e.message})` : ''}`}
            </div>
          ))}
        </pre>
      )}
    </section>
  );
}
