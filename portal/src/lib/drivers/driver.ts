/**
 * What the operations engine needs from an instance driver (local code-server processes, AWS
 * Fargate, or the engine tests' fake). The engine never knows which one runs.
 *
 * Contract: every method is idempotent. `create` adopts an instance that already exists for the
 * interview; `destroy` of a missing instance succeeds. Long work honours `signal` (cancel, lost
 * lease) and reports progress through `log`.
 */
export interface InstanceDriver {
  readonly name: string;
  create(spec: InstanceSpec, ctx: DriverContext): Promise<InstanceInfo>;
  destroy(interviewId: string, ctx: DriverContext): Promise<DestroyResult>;
  status(interviewId: string): Promise<InstanceInfo | null>;
  list(): Promise<InstanceInfo[]>;
}

export interface InstanceSpec {
  interviewId: string;
  challengeId: string;
  deadlineAt: number;
  /** Extra settings the driver may use (e.g. network policy); validated by the driver. */
  options?: Record<string, unknown>;
}

export interface InstanceInfo {
  interviewId: string;
  state: 'starting' | 'ready' | 'stopping' | 'stopped';
  /** Driver-specific details safe to show an interviewer (never secrets). */
  details?: Record<string, unknown>;
}

export interface DestroyResult {
  /** Where the candidate's work was archived, if the driver archived it. */
  archive?: { key: string; bytes: number } | { error: string };
}

export interface DriverContext {
  signal: AbortSignal;
  log: (level: 'debug' | 'info' | 'warn' | 'error', message: string) => void;
}
