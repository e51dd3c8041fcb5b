import path from 'node:path';
import { pathToFileURL } from 'node:url';
import type { ChallengeCatalog } from '../challenges/catalog';
import type { Config } from '../config/env';
import { repoRoot } from '../config/paths';
import type { Logger } from '../log/logger';
import type { InstanceDriver } from './driver';

export type SelectedDriver = InstanceDriver & { warnings?(): string[] };

/** Builds the instance driver named by DRIVER. */
export async function createDriver(
  config: Config,
  deps: { challenges: ChallengeCatalog; log: Logger },
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
    case 'aws':
      throw new Error(`DRIVER=${config.DRIVER} is not available yet`);
  }
}
