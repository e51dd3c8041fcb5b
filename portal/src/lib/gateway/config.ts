import type { Config } from '../config/env';

/** Everything the gateway reads from configuration, typed and defaulted (see env.ts for each variable). */
export interface GatewayConfig {
  openaiBaseUrl?: string;
  openaiApiKey?: string;
  defaultModel: string;
  /** Models a candidate may ask for when the interview pins none (always includes defaultModel). */
  allowedModels: string[];
  reasoningModels: RegExp;
  maxCompletionTokens: number;
  minCompletionTokens: number;
  sliceTokens: number;
  sliceLeaseMs: number;
  sliceIdleMs: number;
  sliceFlushMs: number;
  sweepIntervalMs: number;
  accessCacheMs: number;
  maxRequestBytes: number;
  maxMessageBytes: number;
  maxConcurrentPerInterview: number;
  rateLimitPerMinute: number;
  upstreamTimeoutMs: number;
  upstreamIdleMs: number;
  countWorkers: number;
}

export function gatewayConfig(c: Config): GatewayConfig {
  return {
    ...(c.OPENAI_BASE_URL && { openaiBaseUrl: c.OPENAI_BASE_URL }),
    ...(c.OPENAI_API_KEY && { openaiApiKey: c.OPENAI_API_KEY }),
    defaultModel: c.AI_DEFAULT_MODEL,
    allowedModels: [...new Set([c.AI_DEFAULT_MODEL, ...c.AI_ALLOWED_MODELS])],
    reasoningModels: new RegExp(c.AI_REASONING_MODELS),
    maxCompletionTokens: c.AI_MAX_COMPLETION_TOKENS,
    minCompletionTokens: c.AI_MIN_COMPLETION_TOKENS,
    sliceTokens: c.AI_SLICE_TOKENS,
    sliceLeaseMs: c.AI_SLICE_LEASE_MS,
    sliceIdleMs: c.AI_SLICE_IDLE_MS,
    sliceFlushMs: c.AI_SLICE_FLUSH_MS,
    sweepIntervalMs: c.AI_SWEEP_INTERVAL_MS,
    accessCacheMs: c.AI_ACCESS_CACHE_MS,
    maxRequestBytes: c.AI_MAX_REQUEST_BYTES,
    maxMessageBytes: c.AI_MAX_MESSAGE_BYTES,
    maxConcurrentPerInterview: c.AI_MAX_CONCURRENT_PER_INTERVIEW,
    rateLimitPerMinute: c.AI_RATE_LIMIT_PER_MINUTE,
    upstreamTimeoutMs: c.AI_UPSTREAM_TIMEOUT_MS,
    upstreamIdleMs: c.AI_UPSTREAM_IDLE_MS,
    countWorkers: c.AI_COUNT_WORKERS,
  };
}
