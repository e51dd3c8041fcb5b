/**
 * `npm run stop-all`: stops EVERY local instance, live interviews included, archiving each
 * workspace to storage first, and the warm pool's empty instances. For taking a host down; a normal portal stop (Ctrl-C) leaves live
 * IDEs running so candidates can keep working across a portal restart.
 */
import { ChallengeCatalog } from '../src/lib/challenges/catalog';
import { parseConfig } from '../src/lib/config/env';
import { challengesDir } from '../src/lib/config/paths';
import { createLocalDriver } from '../src/lib/drivers/local/driver';
import { createStorage } from '../src/lib/storage';

const config = parseConfig(process.env);
const driver = createLocalDriver({
  dataDir: config.DATA_DIR,
  runtimeDir: config.RUNTIME_DIR,
  extensionsDir: config.EXTENSIONS_DIR,
  challenges: new ChallengeCatalog(challengesDir),
  storage: createStorage(config),
  sandbox: config.SANDBOX,
  archiveMaxBytes: config.ARCHIVE_MAX_BYTES,
  log: (level, m) => console.log(`  [${level}] ${m}`),
});
const running = await driver.list();
console.log(`stopping ${running.length} instance(s) under ${config.DATA_DIR}`);
let failed = 0;
for (const inst of running) {
  try {
    const r = await driver.destroy(inst.interviewId, {
      signal: new AbortController().signal,
      log: (level, m) =>
        level === 'debug' ? undefined : console.log(`  [${inst.interviewId}] ${m}`),
    });
    if (r.archive && 'error' in r.archive) failed++;
  } catch (e) {
    failed++;
    console.error(`  [${inst.interviewId}] failed: ${(e as Error).message}`);
  }
}
await driver.stopAllWarm();
console.log(failed ? `done, ${failed} problem(s) above` : 'done');
process.exit(failed ? 1 : 0);
