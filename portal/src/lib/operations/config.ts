import type { Config } from '../config/env';

/** The settings the operations engine and scheduler read (a subset of Config; tests build it directly). */
export type OperationsConfig = Pick<
  Config,
  | 'LEASE_MS'
  | 'SCHEDULER_POLL_MS'
  | 'SCHEDULER_CONCURRENCY'
  | 'PROVISION_LEAD_SECONDS'
  | 'DESTROY_GRACE_SECONDS'
  | 'OPERATION_MAX_ATTEMPTS'
>;
