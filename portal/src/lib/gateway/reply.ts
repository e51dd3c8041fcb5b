import type { ServerResponse } from 'node:http';
import type { GatewayError } from './errors';

/** Sends a whole JSON answer (status, headers, body) on a node:http response. */
export function sendJson(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  if (res.headersSent || res.destroyed) return void res.destroy();
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json',
    'content-length': String(Buffer.byteLength(text)),
    ...headers,
  });
  res.end(text);
}

/** Sends a typed error in the one error shape (`x-should-retry`, `retry-after` as the error says). */
export function sendError(res: ServerResponse, e: GatewayError): void {
  sendJson(res, e.status, e.toBody(), e.headers());
}
