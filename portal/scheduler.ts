// `npm run scheduler`: a standalone scheduler process (scale-out). It shares the portal's tables
// and config; leases keep every operation exactly-once however many of these run.
import { loadConfigOrExit } from './src/lib/config/env';
import { challengesDir } from './src/lib/config/paths';
import { ChallengeCatalog } from './src/lib/challenges/catalog';
import { createDriver } from './src/lib/drivers/select';
import { EventHub } from './src/lib/events/hub';
import { GatewayAccessAdmin } from './src/lib/gateway/access-admin';
import { gatewaySpecOptions, revokeOnEnding } from './src/lib/interviews/ai-access';
import { InterviewLifecycle } from './src/lib/interviews/lifecycle';
import { createLogger } from './src/lib/log/logger';
import { startSchedulerProcess } from './src/lib/scheduler/process';
import { createStorage } from './src/lib/storage';
import { createDocumentClient } from './src/lib/store/client';
import { EventFeed } from './src/lib/store/events';
import { InterviewStore } from './src/lib/store/interviews';
import { OperationLogStore } from './src/lib/store/operation-logs';

const config = loadConfigOrExit(process.env);
const logger = createLogger(config.LOG_LEVEL, 'scheduler');
if (!config.DYNAMODB_ENDPOINT) {
  // The embedded dynalite belongs to the portal process (one process per data directory).
  logger.error('set DYNAMODB_ENDPOINT: a standalone scheduler needs a shared DynamoDB endpoint');
  process.exit(2);
}
const db = createDocumentClient({ endpoint: config.DYNAMODB_ENDPOINT, region: config.AWS_REGION });
// A hub without polling: it stores global events so portal processes' hubs see them.
const publisher = new EventHub({
  logs: new OperationLogStore(db, config.tables.operationLogs),
  feed: new EventFeed({ db, table: config.tables.events }),
  pollMs: 0,
  log: logger,
});
const driver = await createDriver(config, {
  challenges: new ChallengeCatalog(challengesDir),
  storage: createStorage(config),
  log: logger,
});
// Instances get their AI gateway token here; the portal processes' gateways serve it. Revoking at
// destroy is a stored mark those gateways pick up through the event hub.
const ai = new GatewayAccessAdmin({ db, tables: config.tables });
const hooks = new InterviewLifecycle({
  store: new InterviewStore(db, config.tables.interviews),
  publisher,
  specOptions: gatewaySpecOptions({
    admin: ai,
    gatewayUrl: () => `${config.publicUrl}/api/ai/v1`,
    log: logger,
  }),
  onEnding: revokeOnEnding({ revoke: (id) => ai.revoke(id), log: logger }),
});
await startSchedulerProcess({ config, db, driver, hooks, publisher, logger });
