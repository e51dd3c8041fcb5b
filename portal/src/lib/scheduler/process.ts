import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { Config } from '../config/env';
import type { InstanceDriver } from '../drivers/driver';
import type { EventPublisher } from '../events/publisher';
import type { InterviewHooks } from '../operations/interview-hooks';
import type { OpsLogger } from '../operations/runner';
import type { Scheduler } from './scheduler';
import { startScheduler } from './start';

export interface SchedulerProcessOptions {
  config: Config;
  db: DynamoDBDocumentClient;
  driver: InstanceDriver;
  hooks: InterviewHooks;
  /** A publisher that stores `global` events, so dashboards in portal processes see changes. */
  publisher?: EventPublisher;
  logger?: OpsLogger;
  owner?: string;
  /** Close on SIGTERM/SIGINT, then exit (default true). */
  handleSignals?: boolean;
}

export interface SchedulerProcess {
  scheduler: Scheduler;
  /** Closes the scheduler: running operations finish, or are released after LEASE_MS. */
  stop(): Promise<void>;
}

/**
 * A scheduler as its own process (`npm run scheduler`, for scale-out): any number of these and
 * of portal processes can share one table; leases keep every operation exactly-once.
 */
export async function startSchedulerProcess(
  opts: SchedulerProcessOptions,
): Promise<SchedulerProcess> {
  const scheduler = await startScheduler({
    config: opts.config,
    db: opts.db,
    driver: opts.driver,
    hooks: opts.hooks,
    ...(opts.publisher && { publisher: opts.publisher }),
    ...(opts.logger && { log: opts.logger }),
    ...(opts.owner && { owner: opts.owner }),
  });
  const stop = () => scheduler.close();
  if (opts.handleSignals ?? true) {
    const onSignal = (signal: string) => {
      opts.logger?.info({ signal }, 'scheduler stopping');
      void stop().then(
        () => process.exit(0),
        () => process.exit(1),
      );
    };
    process.once('SIGTERM', onSignal);
    process.once('SIGINT', onSignal);
  }
  return { scheduler, stop };
}
