import { frameCache, globalEventStream, type SseOptions } from '../events/sse';
import { sseFrame } from '../events/sse-channel';
import type { EventHub } from '../events/hub';
import type { UsageSnapshot } from '../gateway/ledger';
import type { FeedEvent, FeedReader } from '../store/events';

/**
 * The two per-interview live streams, both cut from the global change feed (so they resume with
 * Last-Event-ID like it and cost no extra database reader):
 * - the interviewer's: every change of one interview (status, operations, the AI meter);
 * - the candidate's: only the AI meter of their own interview, as `usage` events whose data is
 *   the meter and nothing else (no interviewer-only fields ever reach the IDE).
 * Both start with the current meter (no `id:`), so a client needs no separate first fetch.
 */

interface StreamDeps {
  hub: Pick<EventHub, 'subscribe' | 'ready'>;
  feed: FeedReader;
  /** The current meter, or null when there is none to show. */
  usage: () => Promise<UsageSnapshot | null>;
}

/** A stream of one interview's events from the global feed, opening with its current meter. */
function meterStream(
  request: Request,
  interviewId: string,
  deps: StreamDeps,
  s: {
    select: (e: FeedEvent) => boolean;
    frame?: (e: FeedEvent) => Uint8Array;
    initial: (u: UsageSnapshot) => Uint8Array;
  },
  options?: SseOptions,
) {
  return globalEventStream(
    request,
    {
      hub: deps.hub,
      feed: deps.feed,
      select: (e) => e.interviewId === interviewId && s.select(e),
      ...(s.frame && { frame: s.frame }),
      initial: async () => {
        const u = await deps.usage().catch(() => null);
        return u ? s.initial(u) : undefined;
      },
    },
    options,
  );
}

export function interviewEventStream(
  request: Request,
  interviewId: string,
  deps: StreamDeps,
  options?: SseOptions,
) {
  return meterStream(
    request,
    interviewId,
    deps,
    {
      select: () => true,
      initial: (u) =>
        sseFrame(undefined, 'interview.usage', {
          type: 'interview.usage',
          interviewId,
          data: u,
          ts: u.at,
        }),
    },
    options,
  );
}

// Shared by every candidate connection: each event is encoded once (like the full frames).
const candidateFrame = frameCache();

export function candidateUsageStream(
  request: Request,
  interviewId: string,
  deps: StreamDeps,
  options?: SseOptions,
) {
  return meterStream(
    request,
    interviewId,
    deps,
    {
      select: (e) => e.type === 'interview.usage',
      frame: (e) =>
        candidateFrame(e, () =>
          sseFrame(e.id, 'usage', meterOnly(e.data as unknown as UsageSnapshot)),
        ),
      initial: (u) => sseFrame(undefined, 'usage', meterOnly(u)),
    },
    options,
  );
}

/** The meter's fields by name: whatever else a stored event carries stays out. */
export function meterOnly(u: UsageSnapshot): UsageSnapshot {
  return {
    interviewId: u.interviewId,
    budget: u.budget,
    used: u.used,
    usedIn: u.usedIn,
    usedOut: u.usedOut,
    reserved: u.reserved,
    remaining: u.remaining,
    requests: u.requests,
    estimatedRequests: u.estimatedRequests,
    deadlineAt: u.deadlineAt,
    ...(u.endedAt !== undefined && { endedAt: u.endedAt }),
    at: u.at,
  };
}
