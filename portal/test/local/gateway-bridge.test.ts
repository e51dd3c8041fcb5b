import { existsSync, readFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GatewayBridge, SANDBOX_GATEWAY_URL } from '@/lib/drivers/local/gateway-bridge';
import { layoutOf } from '@/lib/drivers/local/layout';
import type { LocalDriver } from '@/lib/drivers/local/driver';
import { ctx, inside, tempDataDir, testDriver } from './helpers';

/** Python's urllib inside the sandbox: prints "<status> <body>". */
const fetchInside = (url: string) =>
  `python3 -c "
import urllib.request as u, urllib.error as e
try:
    r = u.urlopen(u.Request('${url}', headers={'Authorization': 'Bearer gw-token-9'}), timeout=5)
    print(r.status, r.read().decode())
except e.HTTPError as x:
    print(x.code, x.read().decode())
"`;

describe.skipIf(!existsSync('/usr/bin/bwrap') || !existsSync('/usr/bin/nsenter'))(
  'network none: the gateway bridge is the only way out',
  () => {
    const data = tempDataDir();
    const id = 'gwb';
    let driver: LocalDriver;
    let bridge: GatewayBridge;
    let pid = 0;
    let portal: http.Server;
    let other: net.Server;
    let otherPort = 0;
    const seen: { url: string; auth?: string; interview?: string; cookie?: string }[] = [];

    beforeAll(async () => {
      // Stands in for the portal: records what reaches it.
      portal = http.createServer((req, res) => {
        seen.push({
          url: req.url!,
          auth: req.headers.authorization,
          interview: req.headers['x-interview-id'] as string,
          cookie: req.headers.cookie,
        });
        res
          .writeHead(200, { 'content-type': 'application/json' })
          .end('{"data":[{"id":"gpt-test"}]}');
      });
      other = net.createServer((s) => s.end('secret service'));
      await Promise.all([
        new Promise<void>((r) => portal.listen(0, '127.0.0.1', r)),
        new Promise<void>((r) => other.listen(0, '127.0.0.1', r)),
      ]);
      otherPort = (other.address() as net.AddressInfo).port;
      const portalPort = (portal.address() as net.AddressInfo).port;
      bridge = new GatewayBridge({ portalPort: () => portalPort, log: () => {} });
      driver = testDriver(data.dir, { sandbox: 'bwrap', network: 'none', gatewayBridge: bridge });
      const info = await driver.create(
        {
          interviewId: id,
          challengeId: 'py-log-aggregation',
          deadlineAt: Date.now() + 3_600_000,
          options: { gatewayUrl: 'http://portal.example/api/ai/v1', gatewayToken: 'gw-token-9' },
        },
        ctx(),
      );
      pid = info.details!.pid as number;
    });
    afterAll(async () => {
      await driver?.destroy(id, ctx()).catch(() => {});
      await bridge?.close();
      portal?.close();
      other?.close();
      data.cleanup();
    });

    it('the instance is told the in-sandbox gateway URL, not the unreachable host one', () => {
      expect(JSON.parse(readFileSync(layoutOf(data.dir, id).interviewFile, 'utf8'))).toMatchObject({
        gatewayUrl: SANDBOX_GATEWAY_URL,
        gatewayToken: 'gw-token-9',
      });
      expect(bridge.attached()).toEqual([id]);
    });

    it("a request to the gateway reaches the portal's /api/ai/v1/, tagged with the interview", async () => {
      const r = await inside(pid, fetchInside(`${SANDBOX_GATEWAY_URL}/models`));
      expect(r.out.trim()).toBe('200 {"data":[{"id":"gpt-test"}]}');
      expect(seen).toEqual([
        { url: '/api/ai/v1/models', auth: 'Bearer gw-token-9', interview: id, cookie: undefined },
      ]);
    });

    it('anything else through the bridge is refused before it reaches the portal', async () => {
      for (const p of ['/api/interviews', '/v1/../../api/interviews', '/i/other/', '/']) {
        const r = await inside(pid, fetchInside(`http://127.0.0.1:8787${p}`));
        expect(r.out.trim().split(' ')[0], p).toBe('404');
      }
      expect(seen).toHaveLength(1);
    });

    it('other host services stay unreachable', async () => {
      expect((await inside(pid, `exec 3<>/dev/tcp/127.0.0.1/${otherPort}`)).code).not.toBe(0);
    });

    it('a restarted portal re-attaches the bridge of the running instance; destroy detaches it', async () => {
      await bridge.close();
      expect(bridge.attached()).toEqual([]);
      expect(await driver.attachGatewayBridges()).toEqual([id]);
      expect((await inside(pid, fetchInside(`${SANDBOX_GATEWAY_URL}/models`))).out.trim()).toMatch(
        /^200 /,
      );
      await driver.destroy(id, ctx());
      expect(bridge.attached()).toEqual([]);
    });
  },
);
