import type { IncomingMessage, ServerResponse } from 'node:http';

/**
 * Serves a fetch-style handler (`(Request) => Promise<Response>`) from a plain `node:http`
 * server: for the gateway benchmark and tests that need a real socket without the Next server.
 * The portal itself serves the gateway through Next route handlers. Body read fully (capped),
 * client disconnect → `request.signal` aborted and the response stream cancelled, response
 * chunks written as they come with backpressure.
 */
export function toNodeHandler(
  handle: (request: Request) => Promise<Response>,
  opts: { maxBodyBytes?: number } = {},
): (req: IncomingMessage, res: ServerResponse) => void {
  const max = opts.maxBodyBytes ?? 8 * 1024 * 1024;
  return (req, res) => {
    void serve(handle, req, res, max).catch(() => {
      if (!res.headersSent) res.writeHead(500);
      res.end();
    });
  };
}

async function serve(handle: (r: Request) => Promise<Response>, req: IncomingMessage, res: ServerResponse, max: number): Promise<void> {
  res.socket?.setNoDelay(true);
  const ac = new AbortController();
  res.on('close', () => {
    if (!res.writableFinished) ac.abort();
  });
  const chunks = await readBody(req, max);
  if (!chunks) {
    res.writeHead(413, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ error: { code: 'payload_too_large', message: `Body larger than ${max} bytes` } }));
    return;
  }
  const headers: [string, string][] = [];
  for (let i = 0; i < req.rawHeaders.length; i += 2) headers.push([req.rawHeaders[i]!, req.rawHeaders[i + 1]!]);
  const method = req.method ?? 'GET';
  const request = new Request(`http://${req.headers.host ?? 'localhost'}${req.url ?? '/'}`, {
    method,
    headers,
    signal: ac.signal,
    ...(method !== 'GET' && method !== 'HEAD' && { body: bytes(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks)) }),
  });
  const response = await handle(request);
  const out: Record<string, string> = {};
  response.headers.forEach((v, k) => (out[k] = v));
  res.writeHead(response.status, out);
  if (!response.body) {
    res.end();
    return;
  }
  const reader = response.body.getReader();
  const cancel = () => void reader.cancel().catch(() => {});
  res.on('close', cancel);
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      if (!res.write(value)) await new Promise<void>((r) => res.once('drain', () => r()).once('close', () => r()));
      if (res.destroyed) break;
    }
  } catch {
    // The handler's stream failed: end what was sent.
  } finally {
    res.off('close', cancel);
    res.end();
  }
}

const bytes = (b: Buffer) => new Uint8Array(b.buffer, b.byteOffset, b.byteLength) as Uint8Array<ArrayBuffer>;

/** The request body (events, not async iteration: cheaper per request), or null past `max` bytes. */
function readBody(req: IncomingMessage, max: number): Promise<Buffer[] | null> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > max) {
        req.removeAllListeners('data');
        req.resume();
        resolve(null);
      } else chunks.push(c);
    });
    req.on('end', () => resolve(size > max ? null : chunks));
    req.on('error', reject);
  });
}
