import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { Config } from './config/env';
import type { Logger } from './log/logger';
import type { ChallengeCatalog } from './challenges/catalog';
import type { InterviewService } from './interviews/service';

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
  challenges: ChallengeCatalog;
  interviews: InterviewService;
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
