import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { Config } from './config/env';
import type { Logger } from './log/logger';
import type { EventHub } from './events/hub';
import type { EventSources } from './events/sse';
import type { ChallengeCatalog } from './challenges/catalog';
import type { InterviewService } from './interviews/service';
import type { OperationsEngine } from './operations/engine';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Storage } from './storage';
import type { Gateway } from './gateway/gateway';
import type { AuditLog } from './audit/audit-log';

/**
 * The process-wide services, built once by `server.ts` (see `lib/bootstrap.ts`).
 *
 * Why a global: Next bundles route handlers apart from the modules the custom server loads,
 * so module-level singletons would exist twice in one process. The runtime lives on
 * `globalThis` under a registered symbol and route handlers reach it through `getRuntime()`.
 */
export interface Runtime {
  config: Config;
  log: Logger;
  db: DynamoDBDocumentClient;
  adminToken: string;
  /** The process's one event hub (SSE fan-out); producers publish to it, SSE routes subscribe. */
  hub: EventHub;
  /** The stores SSE routes read history from (operation log, change feed, operations). */
  eventSources: EventSources;
  challenges: ChallengeCatalog;
  interviews: InterviewService;
  engine: OperationsEngine;
  /** Archives and other blobs (filesystem or S3). */
  storage: Storage;
  /** Present once this process runs the scheduler. */
  scheduler?: { lastTick(): { at: number } | null };
  /** The /i/<interviewId>/ reverse proxy, when the driver serves IDEs through the portal. */
  instanceProxy?: InstanceProxy;
  /** The metered AI gateway (lib/gateway). Optional for tools that build a runtime without it: AI routes then answer 503. */
  gateway?: Gateway;
  /** Who did what to an interview (interviewer controls, candidate link use). */
  audit: AuditLog;
  /** Degradations worth showing in /api/health (e.g. no sandbox available). */
  warnings: string[];
  /** Starts background work (reconciler, scheduler) once the server listens on `port`. */
  start(port: number): Promise<void>;
  /** Stops background work and closes connections (graceful shutdown). */
  close(): Promise<void>;
}

export interface InstanceProxy {
  handles(req: IncomingMessage): boolean;
  web(req: IncomingMessage, res: ServerResponse): void;
  upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void;
}

const KEY = Symbol.for('interview-platform.runtime');
type Holder = { [KEY]?: Runtime };

export function setRuntime(runtime: Runtime | undefined): void {
  (globalThis as Holder)[KEY] = runtime;
}

export function getRuntime(): Runtime {
  const runtime = (globalThis as Holder)[KEY];
  if (!runtime) throw new Error('Runtime not started: run the portal through server.ts');
  return runtime;
}
