import http from 'node:http';
import { unlink } from 'node:fs/promises';

/** Inside a `none`-network sandbox the gateway is here (gateway-forwarder.mjs listens on it). */
export const SANDBOX_GATEWAY_URL = 'http://127.0.0.1:8787/v1';
/** The only portal routes an instance may reach: the OpenAI-compatible gateway. */
const PORTAL_PREFIX = '/api/ai';
const ALLOWED = /^\/v1\/[A-Za-z0-9._~\-/]*(\?.*)?$/;
/** Headers never passed on: the instance cannot claim an interviewer's session or a proxy hop. */
const DROPPED = [
  'cookie',
  'forwarded',
  'x-forwarded-for',
  'x-forwarded-host',
  'x-forwarded-proto',
  'x-real-ip',
  'connection',
  'keep-alive',
  'proxy-authorization',
];

export interface GatewayBridgeDeps {
  /** The portal's own HTTP port once it listens (null before: requests get 503). */
  portalPort(): number | null;
  log(level: 'info' | 'warn', message: string): void;
}

/**
 * The host side of an isolated instance's only way out: one unix socket per instance (in its
 * run/ folder, which the sandbox sees as /run/ide/gateway.sock) served by the portal. Requests to
 * `/v1/…` go to the portal's `/api/ai/v1/…` on loopback (streamed both ways, so SSE works);
 * everything else gets 404 and never leaves the socket. The gateway token in Authorization is
 * what authenticates the candidate; the bridge adds `x-interview-id` naming the instance the
 * request came from, so the gateway can check the token belongs to it.
 *
 * `attach` is idempotent per interview; a restarted portal re-attaches its adopted instances.
 */
export class GatewayBridge {
  private readonly servers = new Map<string, { socket: string; server: http.Server }>();

  constructor(private readonly deps: GatewayBridgeDeps) {}

  async attach(interviewId: string, socketPath: string): Promise<void> {
    const current = this.servers.get(interviewId);
    if (current?.socket === socketPath) return;
    if (current) await this.detach(interviewId);
    await unlink(socketPath).catch(() => {});
    const server = http.createServer((req, res) => this.forward(interviewId, req, res));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(socketPath, () => resolve());
    });
    this.servers.set(interviewId, { socket: socketPath, server });
  }

  async detach(interviewId: string): Promise<void> {
    const entry = this.servers.get(interviewId);
    if (!entry) return;
    this.servers.delete(interviewId);
    entry.server.closeAllConnections();
    await new Promise((r) => entry.server.close(r));
  }

  attached(): string[] {
    return [...this.servers.keys()];
  }

  async close(): Promise<void> {
    await Promise.all(this.attached().map((id) => this.detach(id)));
  }

  private forward(interviewId: string, req: http.IncomingMessage, res: http.ServerResponse): void {
    const url = req.url ?? '';
    const port = this.deps.portalPort();
    if (!ALLOWED.test(url) || url.includes('..'))
      return reply(res, 404, 'not_found', 'Only the AI gateway (/v1/…) is reachable from the IDE');
    if (port === null) return reply(res, 503, 'unavailable', 'The portal is starting');
    const headers = { ...req.headers };
    for (const h of DROPPED) delete headers[h];
    headers.host = `127.0.0.1:${port}`;
    headers['x-interview-id'] = interviewId;
    const upstream = http.request(
      { host: '127.0.0.1', port, method: req.method, path: PORTAL_PREFIX + url, headers },
      (up) => {
        res.writeHead(up.statusCode ?? 502, up.headers);
        up.pipe(res);
      },
    );
    upstream.on('error', (e) => {
      this.deps.log('warn', `gateway bridge for ${interviewId}: ${e.message}`);
      if (!res.headersSent) reply(res, 502, 'bad_gateway', 'The AI gateway did not answer');
      else res.destroy();
    });
    // The candidate closed the request (e.g. aborted a stream): stop the upstream call too.
    res.on('close', () => upstream.destroy());
    req.pipe(upstream);
  }
}

function reply(res: http.ServerResponse, status: number, code: string, message: string): void {
  res
    .writeHead(status, { 'content-type': 'application/json' })
    .end(JSON.stringify({ error: { code, message } }));
}
