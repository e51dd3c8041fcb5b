import { describe, it } from 'node:test';
import assert from 'node:assert/strict';

import { SlidingWindowRateLimiter, rateLimitHeaders } from '../src/rateLimiter.ts';
import type { RateLimitResult } from '../src/rateLimiter.ts';

/** A manually advanced clock, so tests never depend on real time. */
class FakeClock {
  current: number;
  constructor(start: number) {
    this.current = start;
  }
  now = (): number => this.current;
  advance(ms: number): void {
    this.current += ms;
  }
}

// Each test gets its own time origin, far away from the previous test's one.
let nextEpoch = Date.UTC(2024, 0, 1);
function newClock(): FakeClock {
  nextEpoch += 10 * 24 * 60 * 60 * 1000;
  return new FakeClock(nextEpoch);
}

function limiter(limit: number, windowMs: number, clock: FakeClock): SlidingWindowRateLimiter {
  return new SlidingWindowRateLimiter({ limit, windowMs, now: clock.now });
}

describe('construction', () => {
  it('rejects invalid options', () => {
    assert.throws(() => new SlidingWindowRateLimiter({ limit: 0, windowMs: 1000 }), RangeError);
    assert.throws(() => new SlidingWindowRateLimiter({ limit: 1.5, windowMs: 1000 }), RangeError);
    assert.throws(() => new SlidingWindowRateLimiter({ limit: 5, windowMs: 0 }), RangeError);
    assert.throws(() => new SlidingWindowRateLimiter({ limit: 5, windowMs: -10 }), RangeError);
    assert.throws(() => new SlidingWindowRateLimiter({ limit: 5, windowMs: Number.NaN }), RangeError);
  });
});

describe('a single key', () => {
  it('allows up to `limit` requests in a window, then rejects', () => {
    const clock = newClock();
    const rl = limiter(3, 1000, clock);
    assert.deepEqual(
      [1, 2, 3, 4, 5].map(() => rl.hit('alice').allowed),
      [true, true, true, false, false],
    );
  });

  it('counts `remaining` down to zero', () => {
    const clock = newClock();
    const rl = limiter(3, 1000, clock);
    const remaining: number[] = [];
    for (let i = 0; i < 4; i++) {
      remaining.push(rl.hit('alice').remaining);
      clock.advance(10);
    }
    assert.deepEqual(remaining, [2, 1, 0, 0]);
  });

  it('reports when a rejected client may retry, based on its oldest request', () => {
    const clock = newClock();
    const rl = limiter(3, 1000, clock);
    rl.hit('alice'); // t = 0
    clock.advance(400);
    rl.hit('alice'); // t = 400
    clock.advance(400);
    rl.hit('alice'); // t = 800
    clock.advance(199); // t = 999

    const result = rl.hit('alice');
    assert.equal(result.allowed, false);
    assert.equal(result.retryAfterMs, 1);
    assert.equal(result.resetAfterMs, 801);
  });

  it('stops counting a request exactly `windowMs` after it was made', () => {
    const clock = newClock();
    const rl = limiter(2, 1000, clock);
    rl.hit('alice'); // t = 0
    clock.advance(250);
    rl.hit('alice'); // t = 250
    clock.advance(749); // t = 999
    assert.equal(rl.hit('alice').allowed, false);
    clock.advance(1); // t = 1000: the request from t = 0 has left the window
    const result = rl.hit('alice');
    assert.equal(result.allowed, true);
    assert.equal(result.remaining, 0);
  });

  it('accepts a retry made exactly `retryAfterMs` later', () => {
    const clock = newClock();
    const rl = limiter(5, 60_000, clock);
    for (let i = 0; i < 5; i++) {
      rl.hit('alice');
      clock.advance(1_000);
    }
    const rejected = rl.hit('alice');
    assert.equal(rejected.allowed, false);
    assert.ok(rejected.retryAfterMs > 0);

    clock.advance(rejected.retryAfterMs);
    assert.equal(rl.hit('alice').allowed, true);
  });

  it('does not record rejected requests', () => {
    const clock = newClock();
    const rl = limiter(2, 1000, clock);
    rl.hit('alice');
    rl.hit('alice');
    // A client hammering the API while throttled must not extend its own ban.
    for (let i = 0; i < 19; i++) {
      clock.advance(50);
      assert.equal(rl.hit('alice').allowed, false); // t = 50, 100, ..., 950
    }
    clock.advance(51); // t = 1001
    assert.equal(rl.hit('alice').allowed, true);
    assert.deepEqual(rl.stats('alice'), { inWindow: 1, denied: 19 });
  });

  it('reports resetAfterMs for accepted requests', () => {
    const clock = newClock();
    const rl = limiter(3, 1000, clock);
    const first = rl.hit('alice');
    assert.deepEqual(first, { allowed: true, limit: 3, remaining: 2, retryAfterMs: 0, resetAfterMs: 1000 });
  });
});

describe('several keys', () => {
  it('limits each key independently', () => {
    const clock = newClock();
    const rl = limiter(2, 1000, clock);
    assert.equal(rl.hit('alice').allowed, true);
    assert.equal(rl.hit('alice').allowed, true);
    assert.equal(rl.hit('alice').allowed, false);

    const bob = rl.hit('bob');
    assert.equal(bob.allowed, true, 'bob has made no request yet');
    assert.equal(bob.remaining, 1);
    assert.deepEqual(rl.stats('alice'), { inWindow: 2, denied: 1 });
    assert.deepEqual(rl.stats('bob'), { inWindow: 1, denied: 0 });
  });

  it('gives every one of many clients its full allowance', () => {
    const clock = newClock();
    const rl = limiter(3, 1000, clock);
    for (let client = 0; client < 100; client++) {
      for (let i = 0; i < 3; i++) {
        assert.equal(rl.hit(`client-${client}`).allowed, true, `client-${client}, request ${i + 1}`);
      }
      assert.equal(rl.hit(`client-${client}`).allowed, false, `client-${client}, request 4`);
    }
    assert.equal(rl.size, 100);
  });

  it('reset() gives a key a fresh allowance', () => {
    const clock = newClock();
    const rl = limiter(2, 1000, clock);
    rl.hit('alice');
    rl.hit('alice');
    assert.equal(rl.hit('alice').allowed, false);

    rl.reset('alice');
    assert.deepEqual(rl.stats('alice'), { inWindow: 0, denied: 0 });
    assert.equal(rl.hit('alice').allowed, true);
  });

  it('sweep() drops keys whose requests have all left the window', () => {
    const clock = newClock();
    const rl = limiter(5, 1000, clock);
    rl.hit('alice'); // t = 0
    clock.advance(500);
    rl.hit('bob'); // t = 500
    clock.advance(500); // t = 1000

    assert.equal(rl.sweep(), 1, 'alice expired exactly now');
    assert.equal(rl.size, 1);
    assert.deepEqual(rl.stats('bob'), { inWindow: 1, denied: 0 });

    clock.advance(500); // t = 1500
    assert.equal(rl.sweep(), 1);
    assert.equal(rl.size, 0);
  });
});

describe('rateLimitHeaders', () => {
  it('describes an accepted request', () => {
    const result: RateLimitResult = {
      allowed: true,
      limit: 100,
      remaining: 42,
      retryAfterMs: 0,
      resetAfterMs: 30_500,
    };
    assert.deepEqual(rateLimitHeaders(result), {
      'RateLimit-Limit': '100',
      'RateLimit-Remaining': '42',
      'RateLimit-Reset': '31',
    });
  });

  it('tells a rejected client when to retry, in whole seconds rounded up', () => {
    const rejected = (retryAfterMs: number): RateLimitResult => ({
      allowed: false,
      limit: 100,
      remaining: 0,
      retryAfterMs,
      resetAfterMs: 60_000,
    });
    assert.equal(rateLimitHeaders(rejected(59_001))['Retry-After'], '60');
    assert.equal(rateLimitHeaders(rejected(2_000))['Retry-After'], '2');
    assert.equal(rateLimitHeaders(rejected(1))['Retry-After'], '1');
  });

  it('works end to end with the limiter', () => {
    const clock = newClock();
    const rl = limiter(1, 10_000, clock);
    rl.hit('alice');
    clock.advance(2_500);
    const headers = rateLimitHeaders(rl.hit('alice'));
    assert.equal(headers['RateLimit-Remaining'], '0');
    assert.equal(headers['RateLimit-Reset'], '8');
    assert.equal(headers['Retry-After'], '8');
  });
});

describe('default clock', () => {
  it('uses Date.now when no clock is given', () => {
    const rl = new SlidingWindowRateLimiter({ limit: 1, windowMs: 60_000 });
    assert.equal(rl.hit('default-clock').allowed, true);
    assert.equal(rl.hit('default-clock').allowed, false);
  });
});
