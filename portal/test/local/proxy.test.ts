import http from 'node:http';
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestDb, type TestDb } from '../support/dynalite';
import { InterviewStore } from '@/lib/store/interviews';
import { CandidateLinkStore } from '@/lib/store/candidate-links';
import { CandidateLinks } from '@/lib/auth/candidate-links';
import { createInstanceProxy } from '@/lib/proxy/instance-proxy';
import { createAdminSession } from '@/lib/auth/admin';
import type { LocalDriver } from '@/lib/drivers/local/driver';
import {
  ctx,
  interviewRecord,
  startProxyServer as startServer,
  tempDataDir,
  testDriver,
} from './helpers';

const ADMIN = 'admin-token-for-proxy-tests-0123456789';

/** Sends a WebSocket upgrade and resolves with the status line's code (101 = upgraded). */
function upgradeStatus(port: number, path: string, cookie?: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = http.request({
      host: '127.0.0.1',
      port,
      path,
      headers: {
        connection: 'Upgrade',
        upgrade: 'websocket',
        'sec-websocket-version': '13',
        'sec-websocket-key': randomBytes(16).toString('base64'),
        origin: `http://127.0.0.1:${port}`,
        ...(cookie && { cookie }),
      },
    });
    req.on('upgrade', (res, socket) => {
      socket.destroy();
      resolve(res.statusCode!);
    });
    req.on('response', (res) => {
      res.resume();
      resolve(res.statusCode!);
    });
    req.on('error', reject);
    req.end();
  });
}

const cookieOf = (res: Response) => res.headers.get('set-cookie')!.split(';')[0]!;

describe('instance proxy and candidate links', () => {
  const data = tempDataDir();
  let db: TestDb;
  let driver: LocalDriver;
  let links: CandidateLinks;
  let server: { url: string; port: number; close(): void };
  const audit: Record<string, unknown>[] = [];
  const A = 'prx-a';
  const B = 'prx-b';
  let linkA = '';
  let linkB = '';

  beforeAll(async () => {
    db = await startTestDb();
    const interviews = new InterviewStore(db.db, db.tables.interviews);
    await interviews.put(interviewRecord(A, Date.now() + 3_600_000));
    await interviews.put(interviewRecord(B, Date.now() + 3_600_000));
    await interviews.put(interviewRecord('prx-over', Date.now() - 1000, 'ended'));
    driver = testDriver(data.dir, { sandbox: 'none' });
    links = new CandidateLinks({
      store: new CandidateLinkStore(db.db, db.tables.candidateLinks),
      secret: ADMIN,
      publicUrl: 'http://portal.test',
      interviews,
      audit: (e) => void audit.push(e),
    });
    const proxy = createInstanceProxy({
      resolveSocket: (id) => driver.socketOf(id),
      secret: ADMIN,
      adminToken: ADMIN,
      audit: (e) => void audit.push(e),
    });
    server = await startServer(links, proxy);
    await Promise.all(
      [A, B].map((id) =>
        driver.create(
          {
            interviewId: id,
            challengeId: 'py-log-aggregation',
            deadlineAt: Date.now() + 3_600_000,
          },
          ctx(),
        ),
      ),
    );
    linkA = new URL(await links.issue({ id: A })).pathname;
    linkB = new URL(await links.issue({ id: B })).pathname;
  });
  afterAll(async () => {
    server?.close();
    await Promise.all([A, B].map((id) => driver?.destroy(id, ctx()).catch(() => {})));
    await db?.stop();
    data.cleanup();
  });

  it('issuing a link twice returns the same link; the token is stored only hashed', async () => {
    expect(new URL(await links.issue({ id: A })).pathname).toBe(linkA);
    expect(await links.urlFor(A)).toBe(`http://portal.test${linkA}`);
    const item = await new CandidateLinkStore(db.db, db.tables.candidateLinks).get(A);
    expect(JSON.stringify(item)).not.toContain(linkA.slice(3));
  });

  it('the candidate link sets an HttpOnly cookie scoped to the interview and redirects into the IDE', async () => {
    const res = await fetch(server.url + linkA, { redirect: 'manual' });
    expect(res.status).toBe(303);
    expect(res.headers.get('location')).toBe(`/i/${A}/`);
    const cookie = res.headers.get('set-cookie')!;
    expect(cookie).toContain(`Path=/i/${A}/`);
    expect(cookie).toContain('HttpOnly');
    expect(cookie).toContain('SameSite=Lax');
    expect(audit).toContainEqual(
      expect.objectContaining({ event: 'candidate_link.used', ok: true, interviewId: A }),
    );
    expect(JSON.stringify(audit)).not.toContain(linkA.slice(3));
  });

  it('the workbench HTML and a WebSocket upgrade go through the proxy with the candidate cookie', async () => {
    const cookie = cookieOf(await fetch(server.url + linkA, { redirect: 'manual' }));
    const page = await fetch(`${server.url}/i/${A}/`, { headers: { cookie } });
    expect(page.status).toBe(200);
    expect(await page.text()).toContain('workbench');
    expect(
      await upgradeStatus(
        server.port,
        `/i/${A}/?reconnectionToken=${randomBytes(8).toString('hex')}&reconnection=false&skipWebSocketFrames=false`,
        cookie,
      ),
    ).toBe(101);
  });

  it("another interview's candidate cookie gets 403 on HTTP and WebSocket; no cookie gets 401", async () => {
    const cookieB = cookieOf(await fetch(server.url + linkB, { redirect: 'manual' }));
    const res = await fetch(`${server.url}/i/${A}/`, { headers: { cookie: cookieB } });
    expect(res.status).toBe(403);
    expect(await res.json()).toMatchObject({ error: { code: 'forbidden' } });
    expect(await upgradeStatus(server.port, `/i/${A}/?type=Management`, cookieB)).toBe(403);
    const anon = await fetch(`${server.url}/i/${A}/`);
    expect(anon.status).toBe(401);
    expect(await anon.json()).toMatchObject({ error: { code: 'unauthorized' } });
    const browser = await fetch(`${server.url}/i/${A}/`, { headers: { accept: 'text/html,*/*' } });
    expect(browser.status).toBe(401);
    expect(browser.headers.get('content-type')).toContain('text/html');
    expect(await upgradeStatus(server.port, `/i/${A}/`)).toBe(401);
  });

  it('an interviewer session opens any IDE, and that is audited', async () => {
    const session = createAdminSession(ADMIN).value;
    const res = await fetch(`${server.url}/i/${B}/`, {
      headers: { cookie: `admin_session=${session}` },
    });
    expect(res.status).toBe(200);
    expect(audit).toContainEqual({ event: 'ide.interviewer_access', interviewId: B });
  });

  it('unknown, tampered and ended-interview links are refused', async () => {
    expect((await fetch(`${server.url}/c/${A}.bogus`, { redirect: 'manual' })).status).toBe(404);
    expect((await fetch(`${server.url}/c/nonsense`, { redirect: 'manual' })).status).toBe(404);
    const over = new URL(await links.issue({ id: 'prx-over' })).pathname;
    expect((await fetch(server.url + over, { redirect: 'manual' })).status).toBe(410);
  });

  it('/i/<id> without a slash redirects; healthz is open; a missing instance is 503', async () => {
    const res = await fetch(`${server.url}/i/${A}?x=1`, { redirect: 'manual' });
    expect(res.status).toBe(308);
    expect(res.headers.get('location')).toBe(`/i/${A}/?x=1`);
    expect((await fetch(`${server.url}/i/${A}/healthz`)).status).toBe(200);
    const session = createAdminSession(ADMIN).value;
    expect(
      (await fetch(`${server.url}/i/nope/`, { headers: { cookie: `admin_session=${session}` } }))
        .status,
    ).toBe(503);
  });
});
