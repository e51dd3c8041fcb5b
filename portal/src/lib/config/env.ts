import path from 'node:path';
import { z } from 'zod';
import { repoRoot } from './paths';

/**
 * Every environment variable the portal reads is declared here, once, with its default.
 * Nothing else reads `process.env` (tests build a Config with `parseConfig`).
 * README.md and .env.example document each one; keep the three in sync.
 */
const bool = z
  .enum(['true', 'false', '1', '0', 'yes', 'no'])
  .transform((v) => v === 'true' || v === '1' || v === 'yes');
const int = (min: number, max: number) => z.coerce.number().int().min(min).max(max);
const optionalString = z
  .string()
  .optional()
  .transform((v) => (v === undefined || v.trim() === '' ? undefined : v.trim()));

export const envSchema = z.object({
  NODE_ENV: z.enum(['development', 'production', 'test']).default('production'),
  /** Port of the portal's HTTP server. */
  PORT: int(0, 65535).default(3000),
  /** Address the portal listens on. */
  HOST: z.string().min(1).default('127.0.0.1'),
  /** URL people use to reach the portal; candidate links are built from it. */
  PUBLIC_URL: z.url().optional(),
  /** Where local data lives: dynalite's files, archives, instance workspaces. */
  DATA_DIR: z.string().min(1).default(path.join(repoRoot, 'data')),
  /** DynamoDB endpoint. Unset: an embedded dynalite child process persisting under DATA_DIR. */
  DYNAMODB_ENDPOINT: optionalString.pipe(z.url().optional()),
  AWS_REGION: z.string().min(1).default('us-east-1'),
  /** Tables are named `{TABLE_PREFIX}-{APP_ENV}-<table>`. */
  TABLE_PREFIX: z
    .string()
    .regex(/^[a-zA-Z0-9_.-]{1,40}$/, 'letters, digits, _ . - (at most 40)')
    .default('interviews'),
  APP_ENV: z
    .string()
    .regex(/^[a-zA-Z0-9_.-]{1,20}$/, 'letters, digits, _ . - (at most 20)')
    .default('local'),
  /** Bearer token for the admin API. Unset locally: generated once into DATA_DIR/admin-token. */
  ADMIN_TOKEN: optionalString.pipe(z.string().min(24, 'at least 24 characters').optional()),
  /** Instance driver: `local` (code-server child processes) or `aws` (ECS Fargate). */
  DRIVER: z.enum(['local', 'aws', 'fake']).default('local'),
  /** Run the scheduler inside the portal process. */
  SCHEDULER_ENABLED: bool.default(true),
  /** Fallback poll of the due-work indexes, in ms (in-process creates wake it at once). */
  SCHEDULER_POLL_MS: int(50, 60_000).default(1000),
  /** How long a claimed operation's lease lasts without a heartbeat, in ms (≤ 30 s). */
  LEASE_MS: int(1000, 30_000).default(15_000),
  /** Operations run at once by one scheduler process. */
  SCHEDULER_CONCURRENCY: int(1, 1000).default(32),
  /** Provisioning starts this many seconds before `scheduledAt` so the IDE is ready on time. */
  PROVISION_LEAD_SECONDS: int(0, 3600).default(30),
  /** How long past its deadline an instance may live at most, in seconds. */
  DESTROY_GRACE_SECONDS: int(0, 3600).default(60),
  /** Attempts before an operation is marked failed. */
  OPERATION_MAX_ATTEMPTS: int(1, 20).default(5),
  LOG_LEVEL: z.enum(['trace', 'debug', 'info', 'warn', 'error', 'silent']).default('info'),
});

export type Env = z.output<typeof envSchema>;

export interface Config extends Env {
  publicUrl: string;
  tables: TableNames;
}

export interface TableNames {
  interviews: string;
  operations: string;
  operationLogs: string;
  events: string;
}

export class ConfigError extends Error {
  constructor(readonly issues: { variable: string; reason: string }[]) {
    super(
      'Invalid configuration:\n' + issues.map((i) => `  ${i.variable}: ${i.reason}`).join('\n'),
    );
    this.name = 'ConfigError';
  }
}

export function tableNames(prefix: string, appEnv: string): TableNames {
  const name = (t: string) => `${prefix}-${appEnv}-${t}`;
  return {
    interviews: name('interviews'),
    operations: name('operations'),
    operationLogs: name('operation-logs'),
    events: name('events'),
  };
}

/** Parses and validates an environment; throws ConfigError naming each bad variable. */
export function parseConfig(source: Record<string, string | undefined>): Config {
  const known = Object.fromEntries(
    Object.keys(envSchema.shape).map((k) => [k, source[k] === '' ? undefined : source[k]]),
  );
  const parsed = envSchema.safeParse(known);
  if (!parsed.success) {
    throw new ConfigError(
      parsed.error.issues.map((i) => ({
        variable: String(i.path[0] ?? '?'),
        reason: i.message,
      })),
    );
  }
  const env = parsed.data;
  return {
    ...env,
    DATA_DIR: path.resolve(env.DATA_DIR),
    publicUrl: (env.PUBLIC_URL ?? `http://localhost:${env.PORT}`).replace(/\/+$/, ''),
    tables: tableNames(env.TABLE_PREFIX, env.APP_ENV),
  };
}
