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
  /** Where the pinned code-server runtime is installed. Unset: `<repo>/.cache/runtime`. */
  RUNTIME_DIR: optionalString,
  /** Shared read-only extensions dir of local instances. Unset: `<RUNTIME_DIR>/extensions`. */
  EXTENSIONS_DIR: optionalString,
  /** Local instances' sandbox: `auto` (bubblewrap when installed), `bwrap` (required), `none`. */
  SANDBOX: z.enum(['auto', 'bwrap', 'none']).default('auto'),
  /** Default network of a local instance: `none` (no network; IDE over a unix socket) or `host`. */
  INSTANCE_NETWORK: z.enum(['none', 'host']).default('none'),
  /** How long a local instance may take to answer /healthz after spawn, in ms. */
  INSTANCE_READY_TIMEOUT_MS: int(1000, 600_000).default(30_000),
  /** Pre-started empty local instances a create can claim (0 = off). */
  WARM_POOL_SIZE: int(0, 50).default(0),
  /** Largest workspace archive (tar.gz bytes) kept at destroy; bigger fails loudly. */
  ARCHIVE_MAX_BYTES: int(1024, 10 * 1024 ** 3).default(200 * 1024 ** 2),
  /** Where archives go: `fs` (DATA_DIR/storage) or `s3` (S3_BUCKET, required then). */
  STORAGE: z.enum(['fs', 's3']).default('fs'),
  /** STORAGE=s3: the bucket. */
  S3_BUCKET: optionalString,
  /** STORAGE=s3: an S3-compatible endpoint (MinIO, s3rver…). Unset: AWS S3. */
  S3_ENDPOINT: optionalString.pipe(z.url().optional()),
  /** STORAGE=s3: the bucket's region. Unset: AWS_REGION. */
  S3_REGION: optionalString,
  /** STORAGE=s3: bucket in the URL path instead of the host name (most S3-compatible servers). */
  S3_FORCE_PATH_STYLE: bool.default(false),
  /** How often the reconciler compares running instances with live interviews, in ms. */
  RECONCILE_INTERVAL_MS: int(1000, 3_600_000).default(30_000),

  // --- AI gateway (lib/gateway; see src/lib/gateway/README.md) ---
  /** OpenAI-compatible endpoint the gateway calls. Unset: the SDK default (https://api.openai.com/v1). The org key saved through /api/settings/ai takes precedence over OPENAI_API_KEY, not over this URL unless it sets one. */
  OPENAI_BASE_URL: optionalString.pipe(z.url().optional()),
  /** Provider key. Never enters an instance, a response or a log. Unset and no org key saved: the gateway answers "AI is not configured". */
  OPENAI_API_KEY: optionalString,
  /** Model used when a request names none and the interview has none. */
  AI_DEFAULT_MODEL: z.string().min(1).max(200).default('gpt-4o-mini'),
  /** Comma-separated models a candidate may ask for when the interview does not pin one. Empty: only AI_DEFAULT_MODEL. */
  AI_ALLOWED_MODELS: z
    .string()
    .default('')
    .transform((v) =>
      v
        .split(',')
        .map((m) => m.trim())
        .filter(Boolean),
    ),
  /** Models whose hidden reasoning tokens make streamed text a poor estimate (regex); an interrupted call of one is charged its full completion reservation. */
  AI_REASONING_MODELS: z
    .string()
    .default('^(o\\d|gpt-5)')
    .refine((v) => {
      try {
        new RegExp(v);
        return true;
      } catch {
        return false;
      }
    }, 'not a valid regular expression'),
  /** `max_completion_tokens` used when a request sets none, and the most a request may ask for. */
  AI_MAX_COMPLETION_TOKENS: int(1, 1_000_000).default(4096),
  /** Below this many affordable completion tokens a request is refused instead of clamped. */
  AI_MIN_COMPLETION_TOKENS: int(1, 100_000).default(16),
  /** Tokens a portal process takes from an interview's budget at once (a budget slice); shrinks near the end of the budget. */
  AI_SLICE_TOKENS: int(1, 10_000_000).default(16_384),
  /** A slice's lease: a process that dies holds its slice at most this long before the sweeper returns it. */
  AI_SLICE_LEASE_MS: int(1000, 600_000).default(30_000),
  /** A slice unused this long goes back to the interview's budget. */
  AI_SLICE_IDLE_MS: int(100, 600_000).default(5000),
  /** How often a process persists its slices' usage and renews their leases. */
  AI_SLICE_FLUSH_MS: int(50, 60_000).default(1000),
  /** How often the sweeper looks for slices of dead processes. */
  AI_SWEEP_INTERVAL_MS: int(100, 600_000).default(10_000),
  /** How long a verified gateway token's interview state (revocation, deadline, budget) is trusted before it is re-read in the background. */
  AI_ACCESS_CACHE_MS: int(50, 60_000).default(2000),
  /** Largest chat request body, in bytes (413 beyond). */
  AI_MAX_REQUEST_BYTES: int(1024, 64 * 1024 * 1024).default(4 * 1024 * 1024),
  /** Largest single message content, in bytes (400 beyond). */
  AI_MAX_MESSAGE_BYTES: int(64, 64 * 1024 * 1024).default(1024 * 1024),
  /** Concurrent AI requests one interview may run in one portal process. */
  AI_MAX_CONCURRENT_PER_INTERVIEW: int(1, 1000).default(4),
  /** AI requests one interview may start per minute in one portal process. */
  AI_RATE_LIMIT_PER_MINUTE: int(1, 100_000).default(60),
  /** Upstream time limit until the response starts, in ms. */
  AI_UPSTREAM_TIMEOUT_MS: int(100, 600_000).default(60_000),
  /** Upstream time limit between two stream chunks, in ms. */
  AI_UPSTREAM_IDLE_MS: int(100, 600_000).default(60_000),
  /** Worker threads for exact token counts (big prompts never count on the event loop). */
  AI_COUNT_WORKERS: int(1, 8).default(1),
  /** AES-256-GCM key (32 bytes, base64 or hex) that encrypts the org's LLM key at rest. Unset locally: generated once into DATA_DIR/ai-settings.key. */
  AI_SETTINGS_KEY: optionalString,
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
  /** AI gateway: per-interview ledger items and budget slices. */
  aiLedger: string;
  /** AI gateway: per-interview gateway tokens (hashed). */
  aiTokens: string;
  /** AI gateway: conversation messages (the transcript). */
  aiMessages: string;
  /** Organisation settings (e.g. the encrypted LLM key). */
  settings: string;
  /** Candidate links: one per interview, the token stored hashed. */
  candidateLinks: string;
  /** Audit trail: who did what to an interview (interviewer controls, candidate link use). */
  audit: string;
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
    candidateLinks: name('candidate-links'),
    aiLedger: name('ai-ledger'),
    aiTokens: name('ai-tokens'),
    aiMessages: name('ai-messages'),
    settings: name('settings'),
    audit: name('audit'),
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
  // Variables a feature needs once it is turned on.
  if (env.STORAGE === 's3' && !env.S3_BUCKET) {
    throw new ConfigError([{ variable: 'S3_BUCKET', reason: 'required when STORAGE=s3' }]);
  }
  return {
    ...env,
    DATA_DIR: path.resolve(env.DATA_DIR),
    publicUrl: (env.PUBLIC_URL ?? `http://localhost:${env.PORT}`).replace(/\/+$/, ''),
    tables: tableNames(env.TABLE_PREFIX, env.APP_ENV),
  };
}

/** For process entry points: the config, or the reasons on stderr and exit code 1. */
export function loadConfigOrExit(source: Record<string, string | undefined>): Config {
  try {
    return parseConfig(source);
  } catch (e) {
    if (!(e instanceof ConfigError)) throw e;
    console.error(e.message);
    process.exit(1);
  }
}
