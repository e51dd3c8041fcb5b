import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { Config } from '../config/env';
import type { InstanceDriver } from '../drivers/driver';
import { noopPublisher, type EventPublisher } from '../events/publisher';
import { OperationsEngine } from '../operations/engine';
import type { InterviewHooks } from '../operations/interview-hooks';
import type { OpsLogger } from '../operations/runner';
import { Scheduler } from './scheduler';

export interface StartSchedulerOptions {
  config: Config;
  driver: InstanceDriver;
  hooks: InterviewHooks;
  /**
   * Where operation events go: the process's event hub. Without one (a standalone scheduler
   * with no hub) events are only stored; portal processes' hubs catch up from the stored log.
   */
  publisher?: EventPublisher;
  /** The process's engine, so operations enqueued in this process wake the scheduler at once. */
  engine?: OperationsEngine;
  /** Needed only when no engine is given. */
  db?: DynamoDBDocumentClient;
  log?: OpsLogger;
  /** Lease owner id; default host:pid:random (unique per process and restart). */
  owner?: string;
}

export const defaultOwnerId = () =>
  `${hostname()}:${process.pid}:${randomBytes(3).toString('hex')}`;

/**
 * Builds and starts this process's scheduler (overdue deadlines are swept first, see
 * Scheduler.start). The caller closes it on shutdown.
 */
export async function startScheduler(opts: StartSchedulerOptions): Promise<Scheduler> {
  const publisher = opts.publisher ?? noopPublisher;
  let engine = opts.engine;
  if (!engine) {
    if (!opts.db) throw new Error('startScheduler needs an engine or a db client');
    engine = new OperationsEngine({
      db: opts.db,
      tables: opts.config.tables,
      publisher,
      config: opts.config,
      ...(opts.log && { logger: opts.log }),
    });
  }
  const scheduler = new Scheduler({
    engine,
    driver: opts.driver,
    publisher,
    hooks: opts.hooks,
    config: opts.config,
    owner: opts.owner ?? defaultOwnerId(),
    ...(opts.log && { logger: opts.log }),
  });
  await scheduler.start();
  opts.log?.info({ owner: scheduler.owner, driver: opts.driver.name }, 'scheduler started');
  return scheduler;
}
