import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { ProxyServer } from 'http-proxy-3';
import { CANDIDATE_COOKIE, deriveKey, verifyCandidateSession } from '../auth/candidate-links';
import { ADMIN_COOKIE, checkAdminToken, verifyAdminSession } from '../auth/admin';
import type { InstanceProxy } from '../runtime';

export interface InstanceProxyDeps {
  /** Host path of a running instance's unix socket, or null (LocalDriver.socketOf fits). */
  resolveSocket(interviewId: string): Promise<string | null>;
  /** The server secret candidate sessions are signed with (the admin token). */
  secret: string;
  /** Interviewer check: the admin token (bearer) or admin session cookie. */
  adminToken: string;
  /** Audit sink (interviewer opened an IDE, refused requests); never given secrets. */
  audit: (event: Record<string, unknown>) => void;
  now?: () => number;
}

const PATH = /^\/i\/([A-Za-z0-9_-]{1,64})(\/[^]*)?$/;
const AUDIT_EVERY_MS = 10 * 60_000;

type Access = { ok: true; who: 'candidate' | 'interviewer' } | { ok: false; status: 401 | 403 };

function parseCookies(header: string | undefined): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const part of (header ?? '').split(';')) {
    const i = part.indexOf('=');
    if (i <= 0) continue;
    const name = part.slice(0, i).trim();
    out.set(name, [...(out.get(name) ?? []), part.slice(i + 1).trim()]);
  }
  return out;
}

/**
 * The `/i/<interviewId>/…` reverse proxy (HTTP and WebSocket) to that interview's code-server.
 * The prefix is stripped (code-server uses relative URLs, so it works under any prefix) and Host
 * is kept: code-server compares a WebSocket's Origin with Host and would reconnect forever.
 *
 * Access (I6): the candidate's session cookie for THIS interview, or an interviewer (admin
 * bearer token or session; audited). A valid session for another interview gets 403, none 401.
 * `/i/<id>/healthz` is open (it tells only "alive"/"expired") so readiness can be probed through
 * the proxy. Our own cookies and the admin Authorization header are stripped before forwarding:
 * the instance is the candidate's code and must never see an interviewer's credentials.
 */
export class LocalInstanceProxy implements InstanceProxy {
  private readonly proxy: ProxyServer;
  private readonly sessionKey: Buffer;
  private readonly audited = new Map<string, number>();

  constructor(private readonly deps: InstanceProxyDeps) {
    this.sessionKey = deriveKey(deps.secret, 'candidate-session');
    this.proxy = new ProxyServer({ ws: true, xfwd: false, changeOrigin: false, proxyTimeout: 0 });
    this.proxy.on('error', (err, _req, res) => {
      if ('writeHead' in res && typeof (res as ServerResponse).writeHead === 'function') {
        const r = res as ServerResponse;
        if (!r.headersSent)
          sendError(r, 502, 'bad_gateway', `The IDE did not answer: ${err.message}`);
        else r.destroy();
      } else {
        (res as Duplex).destroy();
      }
    });
  }

  handles(req: IncomingMessage): boolean {
    return (req.url ?? '').startsWith('/i/');
  }

  web(req: IncomingMessage, res: ServerResponse): void {
    void this.route(req).then(
      (r) => {
        if ('error' in r) return sendError(res, r.status, r.code, r.message, wantsHtml(req));
        if ('redirect' in r) {
          res.writeHead(308, { location: r.redirect }).end();
          return;
        }
        this.proxy.web(req, res, { target: { socketPath: r.socket, host: 'localhost', port: 0 } });
      },
      (e) => sendError(res, 500, 'internal', `Proxy failure: ${(e as Error).message}`),
    );
  }

  upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    void this.route(req).then(
      (r) => {
        if ('error' in r || 'redirect' in r) {
          const status = 'error' in r ? r.status : 400;
          const body = JSON.stringify({
            error: {
              code: 'error' in r ? r.code : 'bad_request',
              message: 'error' in r ? r.message : 'Use /i/<id>/',
            },
          });
          socket.end(
            `HTTP/1.1 ${status} ${STATUS_TEXT[status] ?? 'Error'}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
          );
          return;
        }
        this.proxy.ws(req, socket, head, {
          target: { socketPath: r.socket, host: 'localhost', port: 0 },
        });
      },
      () => socket.destroy(),
    );
  }

  /** Decides what to do with a request; on success rewrites req.url and req.headers for the instance. */
  private async route(
    req: IncomingMessage,
  ): Promise<
    | { socket: string }
    | { redirect: string }
    | { error: true; status: number; code: string; message: string }
  > {
    const url = req.url ?? '';
    const q = url.indexOf('?');
    const pathname = q >= 0 ? url.slice(0, q) : url;
    const search = q >= 0 ? url.slice(q) : '';
    const m = PATH.exec(pathname);
    if (!m) return { error: true, status: 404, code: 'not_found', message: 'No such IDE' };
    const id = m[1]!;
    const rest = m[2];
    if (rest === undefined) return { redirect: `/i/${id}/${search}` };

    if (rest !== '/healthz') {
      const access = this.access(req, id);
      if (!access.ok) {
        this.deps.audit({ event: 'ide.refused', interviewId: id, status: access.status });
        return access.status === 401
          ? {
              error: true,
              status: 401,
              code: 'unauthorized',
              message: 'Open your candidate link to reach this IDE',
            }
          : {
              error: true,
              status: 403,
              code: 'forbidden',
              message: 'This session does not give access to this IDE',
            };
      }
      if (access.who === 'interviewer') this.auditInterviewer(id);
    }
    const socket = await this.deps.resolveSocket(id);
    if (!socket)
      return {
        error: true,
        status: 503,
        code: 'ide_unavailable',
        message: 'The IDE is not running',
      };

    req.url = rest + search;
    stripCredentials(req);
    return { socket };
  }

  private access(req: IncomingMessage, interviewId: string): Access {
    const now = this.deps.now?.() ?? Date.now();
    const cookies = parseCookies(req.headers.cookie);
    let otherInterview = false;
    for (const value of cookies.get(CANDIDATE_COOKIE) ?? []) {
      const granted = verifyCandidateSession(this.sessionKey, value, now);
      if (granted === interviewId) return { ok: true, who: 'candidate' };
      if (granted) otherInterview = true;
    }
    const auth = req.headers.authorization;
    if (
      auth?.startsWith('Bearer ') &&
      checkAdminToken(this.deps.adminToken, auth.slice(7).trim())
    ) {
      return { ok: true, who: 'interviewer' };
    }
    for (const value of cookies.get(ADMIN_COOKIE) ?? []) {
      if (verifyAdminSession(this.deps.adminToken, decodeURIComponent(value), now))
        return { ok: true, who: 'interviewer' };
    }
    return { ok: false, status: otherInterview ? 403 : 401 };
  }

  private auditInterviewer(interviewId: string): void {
    const now = this.deps.now?.() ?? Date.now();
    const last = this.audited.get(interviewId) ?? 0;
    if (now - last < AUDIT_EVERY_MS) return;
    this.audited.set(interviewId, now);
    this.deps.audit({ event: 'ide.interviewer_access', interviewId });
  }

  close(): void {
    this.proxy.close();
  }
}

function stripCredentials(req: IncomingMessage): void {
  delete req.headers.authorization;
  const kept = (req.headers.cookie ?? '')
    .split(';')
    .map((c) => c.trim())
    .filter((c) => c && !c.startsWith(`${CANDIDATE_COOKIE}=`) && !c.startsWith(`${ADMIN_COOKIE}=`));
  if (kept.length) req.headers.cookie = kept.join('; ');
  else delete req.headers.cookie;
}

const STATUS_TEXT: Record<number, string> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  500: 'Internal Server Error',
  502: 'Bad Gateway',
  503: 'Service Unavailable',
};

function wantsHtml(req: IncomingMessage): boolean {
  // A navigation asks for text/html first; fetches and XHRs from the workbench don't.
  return (req.headers.accept ?? '').startsWith('text/html');
}

function sendError(
  res: ServerResponse,
  status: number,
  code: string,
  message: string,
  html = false,
): void {
  if (html) {
    const safe = message.replace(/[<>&"]/g, (c) => `&#${c.charCodeAt(0)};`);
    res.writeHead(status, {
      'content-type': 'text/html; charset=utf-8',
      'cache-control': 'no-store',
    });
    res.end(
      `<!doctype html><meta charset="utf-8"><title>${status}</title><body style="font-family:sans-serif;margin:3rem"><h1>${STATUS_TEXT[status] ?? 'Error'}</h1><p>${safe}</p></body>`,
    );
    return;
  }
  res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store' });
  res.end(JSON.stringify({ error: { code, message } }));
}

/** Builds the /i/<id>/ proxy for `Runtime.instanceProxy`. */
export function createInstanceProxy(deps: InstanceProxyDeps): LocalInstanceProxy {
  return new LocalInstanceProxy(deps);
}
