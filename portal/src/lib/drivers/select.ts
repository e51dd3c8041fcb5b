import path from 'node:path';
import { pathToFileURL } from 'node:url';
import type { ChallengeCatalog } from '../challenges/catalog';
import type { Config } from '../config/env';
import { repoRoot } from '../config/paths';
import type { Logger } from '../log/logger';
import type { Storage } from '../storage';
import type { InstanceDriver } from './driver';
import { createLocalDriver } from './local/driver';
import { GatewayBridge } from './local/gateway-bridge';

export type SelectedDriver = InstanceDriver & { warnings?(): string[] };

/** Builds the instance driver named by DRIVER. */
export async function createDriver(
  config: Config,
  deps: {
    challenges: ChallengeCatalog;
    storage: Storage;
    log: Logger;
    checkProxy?: (interviewId: string) => Promise<boolean>;
    /** The portal's HTTP port once listening: the gateway bridge forwards to it. */
    portalPort?: () => number | null;
  },
): Promise<SelectedDriver> {
  switch (config.DRIVER) {
    case 'fake': {
      // Test-only: the engine tests' fake driver, so the real server can run operations in
      // route-level tests without code-server. Never a production choice.
      const file = pathToFileURL(path.join(repoRoot, 'portal/test/support/fake-driver.ts')).href;
      const { FakeDriver } = await import(/* @vite-ignore */ file);
      return new FakeDriver({ recordFile: path.join(config.DATA_DIR, 'fake-driver.jsonl') });
    }
    case 'local':
      return createLocalDriver({
        dataDir: config.DATA_DIR,
        runtimeDir: config.RUNTIME_DIR,
        extensionsDir: config.EXTENSIONS_DIR,
        challenges: deps.challenges,
        storage: deps.storage,
        sandbox: config.SANDBOX,
        network: config.INSTANCE_NETWORK,
        archiveMaxBytes: config.ARCHIVE_MAX_BYTES,
        readyTimeoutMs: config.INSTANCE_READY_TIMEOUT_MS,
        warmPoolSize: config.WARM_POOL_SIZE,
        ...(deps.portalPort && {
          gatewayBridge: new GatewayBridge({
            portalPort: deps.portalPort,
            log: (level, message) => deps.log[level]({ driver: 'local' }, message),
          }),
        }),
        log: (level, message) => deps.log[level]({ driver: 'local' }, message),
        ...(deps.checkProxy && { checkProxy: deps.checkProxy }),
      });
    case 'aws':
      throw new Error('DRIVER=aws is not available yet: use DRIVER=local');
  }
}
