import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EventFeed, feedBucket, feedCursorAt, FEED_ID_PATTERN } from '@/lib/store/events';
import { startTestDb, type TestDb } from '../support/dynalite';

let t: TestDb;
beforeAll(async () => {
  t = await startTestDb();
});
afterAll(() => t.stop());

const HOUR = 3_600_000;
const feedAt = (clock: { now: number }, processId = 'p1', ttlSeconds?: number) =>
  new EventFeed({ db: t.db, table: t.tables.events, processId, now: () => clock.now, ttlSeconds });

describe('EventFeed', () => {
  it('names buckets by UTC hour and ids by time', () => {
    expect(feedBucket(Date.UTC(2026, 10, 22, 10, 59, 59, 999))).toBe('2026-11-22T10');
    expect(feedCursorAt(5)).toBe('0000000000005');
  });

  it('appends ids that sort by time and reads after an id, exclusive, in pages', async () => {
    const clock = { now: Date.UTC(2026, 0, 5, 8, 10) };
    const feed = feedAt(clock);
    const ids: string[] = [];
    for (let i = 0; i < 7; i++) {
      clock.now += i % 2; // several in the same ms
      ids.push(
        (await feed.append({ type: 'interview.updated', interviewId: `iv_${i}`, data: { i } })).id,
      );
    }
    expect(ids.every((id) => FEED_ID_PATTERN.test(id))).toBe(true);
    expect([...ids].sort()).toEqual(ids);
    const first = await feed.readSince(ids[1]!, 3);
    expect(first.map((e) => e.id)).toEqual(ids.slice(2, 5));
    const rest = await feed.readSince(first.at(-1)!.id, 3);
    expect(rest.map((e) => e.id)).toEqual(ids.slice(5));
    expect(rest[0]).toEqual({
      id: ids[5],
      type: 'interview.updated',
      interviewId: 'iv_5',
      data: { i: 5 },
      ts: clock.now,
    });
  });

  it('never steps back within a process when the wall clock does', async () => {
    const clock = { now: Date.UTC(2026, 0, 6, 8, 0) };
    const feed = feedAt(clock);
    const a = await feed.append({ type: 'interview.updated', data: {} });
    clock.now -= 5000;
    const b = await feed.append({ type: 'interview.updated', data: {} });
    expect(b.id > a.id).toBe(true);
  });

  it('reads across the hour boundary, including a writer whose clock runs ahead', async () => {
    const clock = { now: Date.UTC(2026, 0, 7, 9, 59, 59, 500) };
    const feed = feedAt(clock);
    const cursor = feedCursorAt(clock.now - 1000);
    const before = await feed.append({ type: 'interview.updated', data: { n: 1 } });
    const ahead = feedAt({ now: clock.now + 2000 }, 'ahead'); // already writes into 10:00
    const next = await ahead.append({ type: 'interview.updated', data: { n: 2 } });
    expect(feedBucket(next.ts)).not.toBe(feedBucket(before.ts));
    expect((await feed.readSince(cursor, 10)).map((e) => e.data.n)).toEqual([1, 2]);
    clock.now += HOUR; // an hour later the previous bucket is still read from an old cursor
    expect((await feed.readSince(cursor, 10)).map((e) => e.data.n)).toEqual([1, 2]);
  });

  it('filters expired events', async () => {
    const clock = { now: Date.UTC(2026, 0, 8, 12, 10) };
    const feed = feedAt(clock, 'p1', 60);
    const cursor = feedCursorAt(clock.now - 1);
    await feed.append({ type: 'interview.updated', data: {} });
    expect(await feed.readSince(cursor, 10)).toHaveLength(1);
    clock.now += 61_000;
    expect(await feed.readSince(cursor, 10)).toHaveLength(0);
  });
});
