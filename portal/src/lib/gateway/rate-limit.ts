import { gwErrors } from './errors';

/**
 * Per-interview limits in this process: requests in flight and requests started per minute
 * (a token bucket refilled continuously). Several portal processes each apply their own; the
 * budget, not these limits, is what bounds spending.
 */
export class InterviewLimiter {
  private state = new Map<string, { inflight: number; tokens: number; at: number }>();

  constructor(
    private readonly opts: { maxConcurrent: number; perMinute: number; now: () => number },
  ) {}

  /** Takes a slot or throws the typed 429. Pair every success with `release`. */
  acquire(interviewId: string): void {
    const now = this.opts.now();
    const cap = this.opts.perMinute;
    let s = this.state.get(interviewId);
    if (!s) {
      s = { inflight: 0, tokens: cap, at: now };
      this.state.set(interviewId, s);
    }
    s.tokens = Math.min(cap, s.tokens + ((now - s.at) * cap) / 60_000);
    s.at = now;
    if (s.inflight >= this.opts.maxConcurrent) {
      throw gwErrors.rateLimited(
        `At most ${this.opts.maxConcurrent} AI requests at a time per interview`,
        1,
      );
    }
    if (s.tokens < 1) {
      const wait = Math.ceil(((1 - s.tokens) * 60) / cap);
      throw gwErrors.rateLimited(
        `At most ${cap} AI requests per minute per interview`,
        Math.max(1, wait),
      );
    }
    s.tokens -= 1;
    s.inflight += 1;
  }

  release(interviewId: string): void {
    const s = this.state.get(interviewId);
    if (!s) return;
    s.inflight = Math.max(0, s.inflight - 1);
    // Forget idle interviews once their bucket is full again (nothing left to remember).
    const cap = this.opts.perMinute;
    if (s.inflight === 0 && s.tokens + ((this.opts.now() - s.at) * cap) / 60_000 >= cap)
      this.state.delete(interviewId);
  }
}
