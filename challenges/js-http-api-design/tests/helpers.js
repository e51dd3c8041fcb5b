import { createServer } from '../src/server.js';

/**
 * Starts a fresh server on an ephemeral port for the current test and stops it
 * when the test ends. Returns a small client for it.
 *
 * @param {import('node:test').TestContext} t
 */
export async function startApi(t) {
  const server = createServer();
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  t.after(
    () =>
      new Promise((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections?.();
      }),
  );
  const { port } = server.address();
  const baseUrl = `http://127.0.0.1:${port}`;

  /**
   * @param {string} method
   * @param {string} path
   * @param {{ json?: unknown, body?: string, headers?: Record<string, string> }} [options]
   *   `json` is sent as an application/json body; `body` is sent as is.
   */
  async function request(method, path, options = {}) {
    const headers = { ...options.headers };
    let body = options.body;
    if (options.json !== undefined) {
      body = JSON.stringify(options.json);
      headers['content-type'] ??= 'application/json';
    }
    // A response that never ends (e.g. a forgotten res.end()) fails fast instead of hanging.
    const signal = AbortSignal.timeout(5000);
    const res = await fetch(baseUrl + path, { method, headers, body, signal });
    const text = await res.text();
    let json;
    try {
      json = text ? JSON.parse(text) : undefined;
    } catch {
      json = undefined;
    }
    return { status: res.status, headers: res.headers, text, json };
  }

  /** Creates a bookmark and returns it, failing the test if that did not work. */
  async function create(fields) {
    const res = await request('POST', '/bookmarks', { json: fields });
    if (res.status !== 201) {
      throw new Error(`POST /bookmarks ${JSON.stringify(fields)} -> ${res.status} ${res.text}`);
    }
    return res.json;
  }

  return { baseUrl, request, create };
}

/** Minimal valid bookmark fields; `n` makes the URL unique. */
export function sample(n, extra = {}) {
  return { url: `https://example.com/articles/${n}`, title: `Article ${n}`, ...extra };
}
