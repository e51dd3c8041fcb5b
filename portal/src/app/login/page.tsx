'use client';
import { useState, type FormEvent } from 'react';
import { api, ApiFailure } from '@/components/api';
import { ErrorAlert } from '@/components/ErrorAlert';

export default function LoginPage() {
  const [token, setToken] = useState('');
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  async function submit(e: FormEvent) {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      await api('/api/session', { json: { token } });
      const next = new URLSearchParams(location.search).get('next');
      location.href = next && next.startsWith('/') && !next.startsWith('//') ? next : '/';
    } catch (err) {
      setError(err instanceof ApiFailure ? err.message : 'Could not sign in');
    } finally {
      setBusy(false);
    }
  }

  return (
    <section className="card" style={{ maxWidth: 480 }}>
      <h1>Sign in</h1>
      <p className="muted">
        Paste the admin token (<code>ADMIN_TOKEN</code>, or the file <code>data/admin-token</code>{' '}
        on a local install).
      </p>
      <form onSubmit={submit}>
        <label htmlFor="token">Admin token</label>
        <input
          id="token"
          type="password"
          autoComplete="current-password"
          value={token}
          onChange={(e) => setToken(e.target.value)}
          required
        />
        <div style={{ marginTop: '1rem' }}>
          <button type="submit" disabled={busy || token.length === 0}>
            {busy ? 'Signing in…' : 'Sign in'}
          </button>
        </div>
        <ErrorAlert>{error}</ErrorAlert>
      </form>
    </section>
  );
}
