/**
 * Sliding-window-log rate limiter.
 *
 * Every key (an API token, a client IP, ...) may make at most `limit` requests
 * in any window of `windowMs` milliseconds. A request accepted at time `t`
 * counts against its key during the half-open interval [t, t + windowMs):
 * at exactly `t + windowMs` it no longer counts.
 *
 * Rejected requests are NOT recorded, so a client that keeps retrying while
 * throttled is let through again as soon as its oldest request expires.
 */

export type Clock = () => number;

export interface RateLimiterOptions {
  /** Maximum number of accepted requests per key in any window. Positive integer. */
  limit: number;
  /** Length of the sliding window, in milliseconds. Positive. */
  windowMs: number;
  /** Time source returning epoch milliseconds. Defaults to `Date.now`. */
  now?: Clock;
}

export interface RateLimitResult {
  /** Whether this request is accepted. */
  allowed: boolean;
  /** The configured limit. */
  limit: number;
  /** How many more requests this key may make right now, after this one. */
  remaining: number;
  /** 0 when allowed; otherwise milliseconds until a retry would be accepted. */
  retryAfterMs: number;
  /** Milliseconds until every request this key has made has left the window (0 if none). */
  resetAfterMs: number;
}

export interface KeyStats {
  /** Accepted requests currently inside the window. */
  inWindow: number;
  /** Total number of rejected requests for this key since it was first seen. */
  denied: number;
}

interface Bucket {
  /** Accepted request times, oldest first. */
  timestamps: number[];
  denied: number;
}

const EMPTY_BUCKET: Bucket = { timestamps: [], denied: 0 };

export class SlidingWindowRateLimiter {
  private readonly limit: number;
  private readonly windowMs: number;
  private readonly now: Clock;
  private readonly buckets = new Map<string, Bucket>();

  constructor(options: RateLimiterOptions) {
    if (!Number.isInteger(options.limit) || options.limit < 1) {
      throw new RangeError(`limit must be a positive integer, got ${options.limit}`);
    }
    if (!Number.isFinite(options.windowMs) || options.windowMs <= 0) {
      throw new RangeError(`windowMs must be a positive number, got ${options.windowMs}`);
    }
    this.limit = options.limit;
    this.windowMs = options.windowMs;
    this.now = options.now ?? Date.now;
  }

  /** Records a request for `key` if it is within the limit, and reports the outcome. */
  hit(key: string): RateLimitResult {
    const now = this.now();
    const bucket = this.bucketFor(key);
    this.prune(bucket, now);

    const log = bucket.timestamps;
    if (log.length >= this.limit) {
      bucket.denied += 1;
      return {
        allowed: false,
        limit: this.limit,
        remaining: 0,
        retryAfterMs: log[0] + this.windowMs - now,
        resetAfterMs: log[log.length - 1] + this.windowMs - now,
      };
    }

    log.push(now);
    return {
      allowed: true,
      limit: this.limit,
      remaining: this.limit - log.length,
      retryAfterMs: 0,
      resetAfterMs: this.windowMs,
    };
  }

  /** Current usage of `key`, without recording a request. */
  stats(key: string): KeyStats {
    const bucket = this.buckets.get(key);
    if (!bucket) return { inWindow: 0, denied: 0 };
    this.prune(bucket, this.now());
    return { inWindow: bucket.timestamps.length, denied: bucket.denied };
  }

  /** Forgets everything about `key`. */
  reset(key: string): void {
    this.buckets.delete(key);
  }

  /**
   * Drops keys that have no accepted request left in the window, so that
   * memory does not grow with every client ever seen. Call it periodically.
   * Returns the number of keys removed.
   */
  sweep(): number {
    const now = this.now();
    let removed = 0;
    for (const [key, bucket] of this.buckets) {
      this.prune(bucket, now);
      if (bucket.timestamps.length === 0) {
        this.buckets.delete(key);
        removed += 1;
      }
    }
    return removed;
  }

  /** Number of keys currently tracked. */
  get size(): number {
    return this.buckets.size;
  }

  private bucketFor(key: string): Bucket {
    let bucket = this.buckets.get(key);
    if (!bucket) {
      bucket = { ...EMPTY_BUCKET };
      this.buckets.set(key, bucket);
    }
    return bucket;
  }

  /** Removes the timestamps that have left the window ending at `now`. */
  private prune(bucket: Bucket, now: number): void {
    const windowStart = now - this.windowMs;
    const log = bucket.timestamps;
    let expired = 0;
    while (expired < log.length && log[expired] < windowStart) {
      expired += 1;
    }
    if (expired > 0) log.splice(0, expired);
  }
}

/**
 * HTTP response headers for a rate-limit decision:
 * - `RateLimit-Limit`, `RateLimit-Remaining`: counts.
 * - `RateLimit-Reset`: whole seconds (rounded up) until the window is empty.
 * - `Retry-After` (only when rejected): whole seconds (rounded up) until a retry
 *   would be accepted, as RFC 9110 requires.
 */
export function rateLimitHeaders(result: RateLimitResult): Record<string, string> {
  const headers: Record<string, string> = {
    'RateLimit-Limit': String(result.limit),
    'RateLimit-Remaining': String(result.remaining),
    'RateLimit-Reset': String(Math.ceil(result.resetAfterMs / 1000)),
  };
  if (!result.allowed) {
    headers['Retry-After'] = String(Math.ceil(result.retryAfterMs));
  }
  return headers;
}
