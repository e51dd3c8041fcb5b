import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestDb, type TestDb } from '../support/dynalite';
import { InterviewStore } from '@/lib/store/interviews';
import { CandidateLinkStore } from '@/lib/store/candidate-links';
import { CandidateLinks } from '@/lib/auth/candidate-links';
import { createInstanceProxy } from '@/lib/proxy/instance-proxy';
import type { LocalDriver } from '@/lib/drivers/local/driver';
import { launchChromium } from '../support/chromium';
import { ctx, interviewRecord, startProxyServer, tempDataDir, testDriver } from '../local/helpers';

const ADMIN = 'admin-token-for-e2e-tests-0123456789abc';
describe('candidate opens the IDE in Chromium', () => {
  const data = tempDataDir();
  let db: TestDb;
  let driver: LocalDriver;
  let server: { url: string; close(): void };
  let chrome: Awaited<ReturnType<typeof launchChromium>>;
  let link = '';
  const id = 'e2e-cand';

  beforeAll(async () => {
    db = await startTestDb();
    const interviews = new InterviewStore(db.db, db.tables.interviews);
    await interviews.put(interviewRecord(id, Date.now() + 3_600_000));
    driver = testDriver(data.dir); // sandbox: auto (bubblewrap where installed)
    const links = new CandidateLinks({
      store: new CandidateLinkStore(db.db, db.tables.candidateLinks),
      secret: ADMIN,
      publicUrl: 'http://x',
      interviews,
      audit: () => {},
    });
    server = await startProxyServer(
      links,
      createInstanceProxy({
        resolveSocket: (i) => driver.socketOf(i),
        secret: ADMIN,
        adminToken: ADMIN,
        audit: () => {},
      }),
    );
    const [, url] = await Promise.all([
      driver.create(
        { interviewId: id, challengeId: 'py-log-aggregation', deadlineAt: Date.now() + 3_600_000 },
        ctx(),
      ),
      links.issue({ id }),
      launchChromium().then((c) => (chrome = c)),
    ]);
    link = new URL(url).pathname;
  });
  afterAll(async () => {
    await chrome?.cleanup();
    server?.close();
    await driver?.destroy(id, ctx()).catch(() => {});
    await db?.stop();
    data.cleanup();
  });

  it('the candidate link opens the workbench through the proxy with the challenge files in the explorer', async () => {
    const page = await chrome.browser.newPage();
    await page.goto(server.url + link);
    expect(new URL(page.url()).pathname).toBe(`/i/${id}/`);
    await page.locator('.monaco-workbench').waitFor({ timeout: 45_000 });
    await page.getByRole('treeitem', { name: /log_stats\.py/ }).waitFor({ timeout: 45_000 });
    await expect(page.getByRole('treeitem', { name: /README\.md/ }).count()).resolves.toBe(1);
    await page.close();
  }, 120_000);

  it('without the link the browser gets the 401 page, not the IDE', async () => {
    const ctxNoCookie = await chrome.browser.newContext();
    const page = await ctxNoCookie.newPage();
    const res = await page.goto(`${server.url}/i/${id}/`);
    expect(res?.status()).toBe(401);
    expect(await page.textContent('body')).toContain('candidate link');
    await ctxNoCookie.close();
  });
});
