import path from 'node:path';
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { Config } from './config/env';
import { challengesDir } from './config/paths';
import { createLogger } from './log/logger';
import { setRuntime, type Runtime } from './runtime';
import { resolveAdminToken } from './auth/admin-token';
import { ChallengeCatalog } from './challenges/catalog';
import { EventHub } from './events/hub';
import { InterviewLifecycle } from './interviews/lifecycle';
import { InterviewService } from './interviews/service';
import { OperationsEngine } from './operations/engine';
import { createDocumentClient } from './store/client';
import { startDynalite, type EmbeddedDynalite } from './store/embedded-dynalite';
import { EventFeed } from './store/events';
import { InterviewStore } from './store/interviews';
import { OperationLogStore } from './store/operation-logs';
import { OperationStore } from './store/operations';
import { ensureTables } from './store/tables';
import { createDriver } from './drivers/select';
import { candidateLinksFor } from './auth/candidate-links';
import { createInstanceProxy } from './proxy/instance-proxy';
import { Reconciler, liveInterviewsFrom } from './drivers/local/reconciler';
import { LocalDriver } from './drivers/local/driver';
import { createStorage } from './storage';
import { startScheduler } from './scheduler/start';
import { probeHttp } from './http/probe';
import { AuditLog } from './audit/audit-log';
import { AuditStore } from './store/audit';
import { createGateway, gatewayConfig, resolveSettingsKey } from './gateway';
import {
  followAccessChanges,
  gatewaySpecOptions,
  revokeOnEnding,
  usageToFeed,
} from './interviews/ai-access';

/**
 * Builds the process-wide runtime from a validated config: database (embedded dynalite unless
 * DYNAMODB_ENDPOINT is set), tables, event hub, operations engine, interview service, driver and
 * scheduler. Publishes it for route handlers (see runtime.ts). `close()` undoes it in reverse.
 */
export async function bootstrap(config: Config): Promise<Runtime> {
  const log = createLogger(config.LOG_LEVEL);
  const closers: (() => Promise<void> | void)[] = [];

  let endpoint = config.DYNAMODB_ENDPOINT;
  let dynalite: EmbeddedDynalite | undefined;
  if (!endpoint) {
    const dir = path.join(config.DATA_DIR, 'dynamodb');
    dynalite = await startDynalite({ dir });
    endpoint = dynalite.endpoint;
    log.info({ dir }, 'embedded dynalite started');
    closers.push(() => dynalite!.stop());
  }
  const dynamo = { endpoint, region: config.AWS_REGION };
  const db = createDocumentClient(dynamo);
  closers.push(() => db.destroy());
  await ensureTables(db as unknown as DynamoDBClient, config.tables);

  const admin = resolveAdminToken(config.ADMIN_TOKEN, config.DATA_DIR);
  if (admin.file) log.info({ file: admin.file }, 'admin token is in this file');

  const logStore = new OperationLogStore(db, config.tables.operationLogs);
  const opStore = new OperationStore(db, config.tables.operations);
  const feed = new EventFeed({ db, table: config.tables.events });
  const hub = new EventHub({ logs: logStore, feed, log });
  closers.push(() => hub.close());

  const engine = new OperationsEngine({
    db,
    tables: config.tables,
    publisher: hub,
    config,
    logger: log,
  });
  const challenges = new ChallengeCatalog(challengesDir);
  const interviewStore = new InterviewStore(db, config.tables.interviews);
  const audit = new AuditLog({ store: new AuditStore(db, config.tables.audit), log });
  const links = candidateLinksFor({ config, db, adminToken: admin.token, log, audit });

  // The metered AI gateway: runs without a provider key too (then it answers `ai_not_configured`).
  const gateway = await createGateway({
    db,
    dynamo,
    tables: config.tables,
    config: gatewayConfig(config),
    log,
    settingsKey: resolveSettingsKey(config),
    usageSink: usageToFeed(hub, log),
  });
  closers.push(() => gateway.close());
  closers.push(followAccessChanges(hub, gateway));

  const interviews = new InterviewService({
    store: interviewStore,
    challenges,
    operations: engine,
    publisher: hub,
    candidateLinks: links,
    ai: gateway,
    audit,
  });
  const lifecycle = new InterviewLifecycle({
    store: interviewStore,
    publisher: hub,
    specOptions: gatewaySpecOptions({
      admin: gateway,
      gatewayUrl: () => `${config.publicUrl}/api/ai/v1`,
      log,
    }),
    onEnding: revokeOnEnding({ revoke: (id) => gateway.revoke(id), log }),
  });
  const storage = createStorage(config);

  // The port is known only once the server listens; readiness checks go through the proxy then.
  let listeningPort: number | undefined;
  const driver = await createDriver(config, {
    challenges,
    storage,
    log,
    checkProxy: (id) =>
      listeningPort === undefined
        ? Promise.resolve(false)
        : probeHttp(`http://127.0.0.1:${listeningPort}/i/${encodeURIComponent(id)}/healthz`, 2000),
    portalPort: () => listeningPort ?? null,
  });
  const warnings = driver.warnings?.() ?? [];
  for (const w of warnings) log.warn(w);

  const instanceProxy =
    driver instanceof LocalDriver
      ? createInstanceProxy({
          resolveSocket: (id) => driver.socketOf(id),
          secret: admin.token,
          adminToken: admin.token,
          audit: (e) => log.info({ audit: true, ...e }, String(e.event)),
        })
      : undefined;
  if (instanceProxy) closers.push(() => instanceProxy.close());

  let scheduler: Awaited<ReturnType<typeof startScheduler>> | undefined;
  const runtime: Runtime = {
    config,
    log,
    db,
    adminToken: admin.token,
    hub,
    eventSources: { logs: logStore, feed, operations: opStore },
    challenges,
    interviews,
    engine,
    storage,
    gateway,
    audit,
    get scheduler() {
      return scheduler;
    },
    instanceProxy,
    warnings,
    async start(port: number) {
      listeningPort = port;
      // PORT=0 (tests) without PUBLIC_URL: links must name the port actually listened on.
      if (!config.PUBLIC_URL && config.PORT === 0) config.publicUrl = `http://localhost:${port}`;
      // Reconcile first: on a restart, adopt live instances and reap strays before new work.
      if (driver instanceof LocalDriver) {
        const reconciler = new Reconciler({
          driver,
          liveInterviews: liveInterviewsFrom(interviewStore),
          graceMs: config.DESTROY_GRACE_SECONDS * 1000,
          intervalMs: config.RECONCILE_INTERVAL_MS,
          log,
        });
        reconciler.start();
        closers.push(() => reconciler.close());
        // Adopted instances without network get their way to the AI gateway back.
        await driver.attachGatewayBridges();
        closers.push(() => driver.closeGatewayBridges());
        // Graceful stop: unclaimed warm instances go; live interviews' instances keep running.
        await driver.startWarmPool();
        closers.push(() => driver.stopWarmPool());
      }
      if (config.SCHEDULER_ENABLED) {
        const s = await startScheduler({
          config,
          driver,
          hooks: lifecycle,
          publisher: hub,
          engine,
          log,
        });
        scheduler = s;
        closers.push(() => s.close());
      }
    },
    async close() {
      setRuntime(undefined);
      for (const close of closers.reverse()) {
        try {
          await close();
        } catch (e) {
          log.warn({ err: e }, 'error during shutdown');
        }
      }
    },
  };
  setRuntime(runtime);
  return runtime;
}
