import http, { type IncomingMessage } from 'node:http';
import https from 'node:https';
import { APIConnectionError, APIConnectionTimeoutError, APIError, APIUserAbortError } from 'openai';

/** Where and how to send a call: the URL and headers the `openai` SDK built (auth, user agent, …). */
export interface RequestTemplate {
  url: URL;
  headers: Record<string, string>;
}

const agents = {
  'http:': new http.Agent({ keepAlive: true, maxSockets: 256 }),
  'https:': new https.Agent({ keepAlive: true, maxSockets: 256 }),
};

/**
 * POSTs `body` and resolves with the provider's 2xx response, its body unread. Failures are the
 * SDK's own error classes, so one mapping (upstream.ts) serves both transports: a non-2xx
 * status → `APIError.generate` from the error body (as the SDK builds it), no response within
 * `timeoutMs` → APIConnectionTimeoutError, a socket error → APIConnectionError, `signal` →
 * APIUserAbortError. Aborting after the response arrived destroys it (stops generation).
 *
 * Why not the SDK's own call: its request pipeline (options, header merging, the Response and
 * web-stream wrapping) costs ~0.5 ms per call before the first byte, a quarter of the gateway's
 * whole time-to-first-token budget. The SDK still builds the request (`Upstream.template`).
 */
export function postStream(
  t: RequestTemplate,
  body: Uint8Array,
  signal: AbortSignal,
  timeoutMs: number,
): Promise<IncomingMessage> {
  return new Promise<IncomingMessage>((resolve, reject) => {
    if (signal.aborted) return reject(new APIUserAbortError());
    const agent = agents[t.url.protocol as 'http:' | 'https:'];
    if (!agent)
      return reject(new APIConnectionError({ message: `Unsupported protocol ${t.url.protocol}` }));
    const lib = t.url.protocol === 'https:' ? https : http;
    let answered = false;
    let finished = false;
    const fail = (e: Error) => {
      if (answered) return;
      answered = true;
      clearTimeout(timer);
      reject(e);
    };
    const req = lib.request(
      t.url,
      {
        method: 'POST',
        agent,
        headers: { ...t.headers, 'content-length': String(body.byteLength) },
      },
      (res) => {
        clearTimeout(timer);
        // Aborts destroy the response; whoever reads it has its own listeners.
        res.on('error', () => {});
        res.once('end', () => (finished = true));
        res.once('close', () => {
          finished = true;
          signal.removeEventListener('abort', onAbort);
        });
        const status = res.statusCode ?? 0;
        if (status >= 200 && status < 300) {
          answered = true;
          return resolve(res);
        }
        void errorOf(res, status).then(fail, () =>
          fail(new APIConnectionError({ message: 'The error response was cut off' })),
        );
      },
    );
    const timer = setTimeout(() => {
      fail(new APIConnectionTimeoutError());
      req.destroy();
    }, timeoutMs);
    const onAbort = () => {
      // A finished response's socket may already serve another call: leave it alone.
      if (finished) return;
      finished = true;
      fail(new APIUserAbortError());
      req.destroy();
    };
    signal.addEventListener('abort', onAbort, { once: true });
    req.on('error', (e) => {
      signal.removeEventListener('abort', onAbort);
      fail(signal.aborted ? new APIUserAbortError() : new APIConnectionError({ cause: e }));
    });
    req.setNoDelay(true);
    req.end(body);
  });
}

const MAX_ERROR_BODY = 64 * 1024;

/** The SDK's error for a non-2xx answer, from its (capped) body. */
async function errorOf(res: IncomingMessage, status: number): Promise<APIError> {
  let text = '';
  for await (const chunk of res) {
    if (text.length < MAX_ERROR_BODY) text += (chunk as Buffer).toString('utf8');
  }
  text = text.slice(0, MAX_ERROR_BODY);
  let json: object | undefined;
  try {
    const v: unknown = JSON.parse(text);
    if (typeof v === 'object' && v !== null) json = v;
  } catch {
    // not JSON: the text is the message
  }
  const headers = new Headers();
  for (const [k, v] of Object.entries(res.headers)) {
    if (typeof v === 'string') headers.set(k, v);
    else if (Array.isArray(v)) for (const x of v) headers.append(k, x);
  }
  return APIError.generate(status, json, json ? undefined : text, headers);
}
