import {
  existsSync,
  lstatSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import path from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { Parser } from 'tar';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestDb, type TestDb } from '../support/dynalite';
import { startPortal, type PortalProcess } from '../support/portal';
import { launchChromium } from '../support/chromium';
import { ctx, inside, testDriver } from '../local/helpers';
import { startUpstream, type TestUpstream } from '../support/openai-upstream';
import { layoutOf } from '@/lib/drivers/local/layout';
import { isAlive, probeHealth } from '@/lib/drivers/local/process';
import type { LocalDriver } from '@/lib/drivers/local/driver';

/**
 * One interview's whole life through the REAL portal (custom server, Next build, scheduler,
 * operations engine, local driver, /i/<id>/ proxy), a real code-server and Chromium:
 * create → ready → candidate link → workbench; isolation between candidates; portal crash and
 * adoption; destroy → archive → download.
 */

interface View {
  id: string;
  status: string;
  operationId: string;
  destroyOperationId?: string;
  candidateUrl?: string;
  instance?: Record<string, unknown>;
}

const CHALLENGE = 'py-log-aggregation';

async function json<T>(res: Response | Promise<Response>): Promise<T> {
  const r = await res;
  const body = await r.text();
  if (!r.ok) throw new Error(`${r.status}: ${body}`);
  return JSON.parse(body) as T;
}

/** Polls the interview until `status` (fails at once on a terminal status that isn't it). */
async function waitStatus(
  portal: PortalProcess,
  id: string,
  status: string,
  timeoutMs = 60_000,
): Promise<View> {
  const until = Date.now() + timeoutMs;
  let last: View | undefined;
  while (Date.now() < until) {
    last = await json<View>(portal.api(`/api/interviews/${id}`));
    if (last.status === status) return last;
    if (
      ['failed', 'cancelled'].includes(last.status) ||
      (last.status === 'ended' && status !== 'ended')
    )
      break;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(
    `interview ${id} is ${last?.status}, not ${status}\n${portal.output.slice(-30).join('\n')}`,
  );
}

async function tarEntries(body: ReadableStream<Uint8Array>): Promise<Map<string, string>> {
  const files = new Map<string, string>();
  const parser = new Parser({
    onReadEntry: (e) => {
      const chunks: Buffer[] = [];
      e.on('data', (c: Buffer) => chunks.push(c));
      e.on('end', () => files.set(e.path, Buffer.concat(chunks).toString('utf8')));
    },
  });
  await pipeline(Readable.fromWeb(body as never), parser);
  return files;
}

/** Pids of the warm pool's unclaimed slots (claimed ones are symlinks to their instance). */
function warmSlotPids(dataDir: string): number[] {
  const dir = path.join(dataDir, 'pool');
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter(
      (n) =>
        !lstatSync(path.join(dir, n)).isSymbolicLink() &&
        existsSync(path.join(dir, n, 'warm.json')),
    )
    .map((n) => JSON.parse(readFileSync(path.join(dir, n, 'warm.json'), 'utf8')).pid as number);
}

/** Waits until the portal's warm pool has a slot answering /healthz (it fills in the background). */
async function waitForWarmSlot(dataDir: string, timeoutMs = 30_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  const dir = path.join(dataDir, 'pool');
  while (Date.now() < until) {
    const slots = existsSync(dir)
      ? readdirSync(dir).filter((n) => !lstatSync(path.join(dir, n)).isSymbolicLink())
      : [];
    for (const slot of slots) {
      if (
        existsSync(path.join(dir, slot, 'warm.json')) &&
        (await probeHealth(path.join(dir, slot, 'run', 'ide.sock')))
      )
        return;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error('the warm pool did not fill');
}

const cookieOf = (res: Response) => res.headers.get('set-cookie')!.split(';')[0]!;

describe('an interview through the real portal (local driver, code-server, Chromium)', () => {
  // Short: unix socket paths are limited to 107 bytes.
  const dataDir = mkdtempSync('/tmp/pe-');
  let db: TestDb;
  let portal: PortalProcess;
  let chrome: Awaited<ReturnType<typeof launchChromium>>;
  let a: View;
  let b: View;
  let pidA = 0;
  /** The test's own view of DATA_DIR (same driver code, no portal): plants a stray, cleans up. */
  let local: LocalDriver;
  let upstream: TestUpstream;
  const UPSTREAM_KEY = 'sk-e2e-upstream-key-7f3a9c';

  const start = () =>
    startPortal({
      dynamoEndpoint: db.endpoint,
      tablePrefix: db.prefix,
      dataDir,
      env: {
        DRIVER: 'local',
        SANDBOX: 'auto',
        WARM_POOL_SIZE: '1',
        PROVISION_LEAD_SECONDS: '1',
        SCHEDULER_POLL_MS: '200',
        RECONCILE_INTERVAL_MS: '1000',
        LOG_LEVEL: 'info',
        OPENAI_BASE_URL: upstream.url,
        OPENAI_API_KEY: UPSTREAM_KEY,
      },
    });
  const create = (name: string) =>
    json<View>(
      portal.api('/api/interviews', {
        method: 'POST',
        json: {
          candidateName: name,
          challengeId: CHALLENGE,
          durationMinutes: 60,
          ai: { tokenBudget: 5000 },
        },
      }),
    );

  beforeAll(async () => {
    db = await startTestDb();
    local = testDriver(dataDir, { sandbox: 'auto' });
    upstream = await startUpstream({ apiKey: UPSTREAM_KEY });
    [portal, chrome] = await Promise.all([start(), launchChromium()]);
  });
  afterAll(async () => {
    await chrome?.cleanup();
    await portal?.stop('SIGTERM');
    // Whatever a failed test left running: stop it (the portal's graceful stop keeps live instances).
    for (const id of await local.registry.ids()) await local.destroy(id, ctx()).catch(() => {});
    await db?.stop();
    await upstream?.close();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('create → ready from the warm pool, with the create operation logging its progress', async () => {
    await waitForWarmSlot(dataDir);
    a = await create('Ada');
    expect(a.status).toBe('scheduled');
    expect(a.candidateUrl).toMatch(new RegExp(`/c/${a.id}\\.`));
    a = await waitStatus(portal, a.id, 'ready');
    expect(a.instance).toMatchObject({ warm: true });
    b = await waitStatus(portal, (await create('Bob')).id, 'ready');
    expect(a.candidateUrl).toBeDefined();
    pidA = a.instance?.pid as number;
    expect(pidA).toBeGreaterThan(0);

    const op = await json<{ status: string; logs: { entries: { message: string }[] } }>(
      portal.api(`/api/operations/${a.operationId}`),
    );
    expect(op.status).toBe('completed');
    const lines = op.logs.entries.map((e) => e.message).join('\n');
    expect(lines).toMatch(/claiming warm instance w-[0-9a-f]+ \(pid \d+/);
    expect(lines).toContain(`workspace seeded from challenge ${CHALLENGE}`);
    expect(lines).toMatch(/IDE ready in \d+ ms \(warm pool\)/);
  }, 90_000);

  it("the candidate link opens the workbench through /i/<id>/ with the challenge's files", async () => {
    const page = await chrome.browser.newPage();
    await page.goto(a.candidateUrl!);
    expect(new URL(page.url()).pathname).toBe(`/i/${a.id}/`);
    await page.locator('.monaco-workbench').waitFor({ timeout: 45_000 });
    await page.getByRole('treeitem', { name: /log_stats\.py/ }).waitFor({ timeout: 45_000 });
    expect(await page.getByRole('treeitem', { name: /README\.md/ }).count()).toBe(1);
    await page.close();
  }, 120_000);

  it("the IDE's AI requests go through the portal's metered gateway with the token the instance was given", async () => {
    // Inside the sandbox (no network): the instance's own config names the gateway and its token.
    const script = `python3 -c "
import json, urllib.request as u
c = json.load(open('/run/ide/interview.json'))
body = json.dumps({'messages': [{'role': 'user', 'content': 'hello from the IDE [[nonce:e2e-ide]]'}]}).encode()
req = u.Request(c['gatewayUrl'] + '/chat/completions', data=body, headers={'Authorization': 'Bearer ' + c['gatewayToken'], 'Content-Type': 'application/json'})
r = json.load(u.urlopen(req, timeout=20))
print(json.dumps({'usage': r['usage'], 'env': sorted(k for k in __import__('os').environ if 'KEY' in k or 'OPENAI' in k)}))
"`;
    const r = await inside(pidA, script);
    expect(r.code, r.out).toBe(0);
    const out = JSON.parse(r.out.trim().split('\n').pop()!) as {
      usage: { prompt_tokens: number; completion_tokens: number };
      env: string[];
    };
    const record = upstream.byNonce('e2e-ide')!;
    expect(out.usage).toMatchObject(record.reported!);
    // The interviewer's meter shows exactly what the provider reported; the provider key never entered the instance.
    const meter = await json<{ used: number; budget: number; requests: number }>(
      portal.api(`/api/interviews/${a.id}/ai`),
    );
    expect(meter).toMatchObject({
      budget: 5000,
      requests: 1,
      used: out.usage.prompt_tokens + out.usage.completion_tokens,
    });
    expect(out.env).toEqual([]);
    expect(r.out).not.toContain(UPSTREAM_KEY);
  }, 60_000);

  it("another interview's candidate cookie opens neither this IDE (403) nor an admin route (401)", async () => {
    const redeemed = await fetch(portal.url + new URL(b.candidateUrl!).pathname, {
      redirect: 'manual',
    });
    expect(redeemed.status).toBe(303);
    const cookieB = cookieOf(redeemed);
    expect((await fetch(`${portal.url}/i/${b.id}/`, { headers: { cookie: cookieB } })).status).toBe(
      200,
    );
    const other = await fetch(`${portal.url}/i/${a.id}/`, { headers: { cookie: cookieB } });
    expect(other.status).toBe(403);
    expect(await other.json()).toMatchObject({ error: { code: 'forbidden' } });
    for (const admin of [
      '/api/interviews',
      `/api/interviews/${a.id}`,
      `/api/interviews/${a.id}/archive`,
    ]) {
      const res = await fetch(portal.url + admin, { headers: { cookie: cookieB } });
      expect(res.status, admin).toBe(401);
      expect(await res.json()).toMatchObject({ error: { code: 'unauthorized' } });
    }
  });

  it('after a SIGKILL the restarted portal adopts the live instance (same pid) and reaps a stray', async () => {
    await waitForWarmSlot(dataDir);
    const orphans = warmSlotPids(dataDir);
    expect(await portal.stop('SIGKILL')).toBeNull();
    // An instance nobody owns (no interview), as a crash between destroy's steps could leave.
    await local.create(
      { interviewId: 'stray-e2e', challengeId: CHALLENGE, deadlineAt: Date.now() + 3_600_000 },
      ctx(),
    );
    expect(await isAlive(pidA, dataDir)).toBe(true);

    portal = await start();
    const cookieA = cookieOf(
      await fetch(portal.url + new URL(a.candidateUrl!).pathname, { redirect: 'manual' }),
    );
    const page = await fetch(`${portal.url}/i/${a.id}/`, { headers: { cookie: cookieA } });
    expect(page.status).toBe(200);
    expect(await page.text()).toContain('workbench');
    expect((await local.status(a.id))?.details?.pid).toBe(pidA);

    const until = Date.now() + 20_000;
    while ((await local.status('stray-e2e')) !== null && Date.now() < until)
      await new Promise((r) => setTimeout(r, 200));
    expect(await local.status('stray-e2e')).toBeNull();
    expect(
      readFileSync(path.join(dataDir, 'storage/archives/stray-e2e/workspace.tar.gz')).length,
    ).toBeGreaterThan(0);
    expect(await probeHealth(layoutOf(dataDir, b.id).socket)).toBe(true);
    // The killed portal's unclaimed warm instance is stopped; the new portal starts its own.
    await waitForWarmSlot(dataDir);
    for (const pid of orphans) expect(await isAlive(pid, dataDir)).toBe(false);
  }, 90_000);

  it("destroy archives the candidate's file; the archive downloads (404 before)", async () => {
    const missing = await portal.api(`/api/interviews/${a.id}/archive`);
    expect(missing.status).toBe(404);
    expect(await missing.json()).toMatchObject({ error: { code: 'not_found' } });
    expect((await portal.api('/api/interviews/not-an-id/archive')).status).toBe(400);

    // The workspace is DATA_DIR/instances/<id>/workspace on the host (bound at /workspace inside).
    writeFileSync(
      path.join(layoutOf(dataDir, a.id).workspace, 'solution.py'),
      'print("my answer")\n',
    );
    await json(portal.api(`/api/interviews/${a.id}/destroy`, { method: 'POST' }));
    await waitStatus(portal, a.id, 'ended');
    expect(await isAlive(pidA, dataDir)).toBe(false);

    const res = await portal.api(`/api/interviews/${a.id}/archive`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('application/gzip');
    expect(res.headers.get('content-disposition')).toBe(
      `attachment; filename="${a.id}-workspace.tar.gz"`,
    );
    const files = await tarEntries(res.body!);
    expect(files.get('./solution.py')).toBe('print("my answer")\n');
    expect(files.has('./log_stats.py')).toBe(true);
  }, 90_000);

  it("a graceful stop stops the warm pool but not a live interview's instance", async () => {
    await waitForWarmSlot(dataDir);
    const warm = warmSlotPids(dataDir);
    expect(warm).toHaveLength(1);
    expect(await portal.stop('SIGTERM')).toBe(0);
    expect(await isAlive(warm[0]!, dataDir)).toBe(false);
    expect(warmSlotPids(dataDir)).toEqual([]);
    expect(await probeHealth(layoutOf(dataDir, b.id).socket)).toBe(true);
  }, 60_000);
});
