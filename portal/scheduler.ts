// `npm run scheduler`: a standalone scheduler process (scale-out). It shares the portal's table
// and config; leases keep every operation exactly-once however many of these run.
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { parseConfig, type Config } from './src/lib/config/env';
import type { InstanceDriver } from './src/lib/drivers/driver';
import { createLogger } from './src/lib/log/logger';
import type { InterviewHooks } from './src/lib/operations/interview-hooks';
import { startSchedulerProcess } from './src/lib/scheduler/process';
import { createDocumentClient } from './src/lib/store/client';

// TODO(lead): wire the real driver (DRIVER=local|aws) and the interview service's hooks.
async function runtimeParts(
  config: Config,
  _db: DynamoDBDocumentClient,
): Promise<{ driver: InstanceDriver; hooks: InterviewHooks }> {
  throw new Error(`the standalone scheduler is not wired to the ${config.DRIVER} driver yet`);
}

const config = parseConfig(process.env);
const logger = createLogger(config.LOG_LEVEL, 'scheduler');
if (!config.DYNAMODB_ENDPOINT && config.DRIVER === 'local') {
  // The embedded dynalite belongs to the portal process (one process per data directory).
  logger.error('set DYNAMODB_ENDPOINT: a standalone scheduler needs a shared DynamoDB endpoint');
  process.exit(2);
}
const db = createDocumentClient({ endpoint: config.DYNAMODB_ENDPOINT, region: config.AWS_REGION });
const { driver, hooks } = await runtimeParts(config, db);
await startSchedulerProcess({ config, db, driver, hooks, logger });
