import type { LedgerItem, SliceItem } from '../store/ledger';

/**
 * The token meter both sides see. `remaining` is what the candidate can still spend:
 * budget − used − reserved, where tokens held by another process's slices count as reserved
 * until that process reports them. So the meter can briefly show less than is left, never more.
 */
export interface UsageSnapshot {
  interviewId: string;
  budget: number;
  used: number;
  usedIn: number;
  usedOut: number;
  /** Held by requests in flight (and, seen from another process, by its slices). */
  reserved: number;
  remaining: number;
  requests: number;
  estimatedRequests: number;
  deadlineAt: number;
  endedAt?: number;
  at: number;
}

/** One of this process's own slices (exact, from memory). */
export interface OwnSlice {
  sliceId: string;
  amount: number;
  usedIn: number;
  usedOut: number;
  /** Held by this process's requests in flight. */
  reserved: number;
  requests: number;
  estimated: number;
}

/**
 * Pure: the meter from a ledger, this process's slices, and what is known of the others —
 * their stored slice items, or only the ledger's `sliced` total when they were not read.
 */
export function computeUsage(
  ledger: LedgerItem,
  own: OwnSlice[],
  others: SliceItem[] | 'unknown',
  at: number,
): UsageSnapshot {
  let usedIn = ledger.usedIn;
  let usedOut = ledger.usedOut;
  let reserved = 0;
  let requests = ledger.requests;
  let estimated = ledger.estimated;
  let ownCounted = 0;
  const ownIds = new Set<string>();
  for (const s of own) {
    ownIds.add(s.sliceId);
    // A slice the ledger no longer counts has its charges in usedIn/usedOut already (the pool
    // applies each of its own ledger writes to the cached view, so new slices are counted).
    if (!ledger.openSlices?.has(s.sliceId)) continue;
    ownCounted += s.amount;
    usedIn += s.usedIn;
    usedOut += s.usedOut;
    reserved += s.reserved;
    requests += s.requests;
    estimated += s.estimated;
  }
  if (others === 'unknown') {
    reserved += Math.max(0, ledger.sliced - ownCounted);
  } else {
    for (const s of others) {
      if (ownIds.has(s.sliceId) || !ledger.openSlices?.has(s.sliceId)) continue;
      usedIn += s.usedIn;
      usedOut += s.usedOut;
      requests += s.requests;
      estimated += s.estimated;
      // A live holder's free part is not spendable from here; a dead one's is not spendable at all until swept.
      reserved += s.amount - s.usedIn - s.usedOut;
    }
  }
  const used = usedIn + usedOut;
  return {
    interviewId: ledger.interviewId,
    budget: ledger.budget,
    used,
    usedIn,
    usedOut,
    reserved,
    remaining: Math.max(0, ledger.budget - used - reserved),
    requests,
    estimatedRequests: estimated,
    deadlineAt: ledger.deadlineAt,
    ...(ledger.endedAt !== undefined && { endedAt: ledger.endedAt }),
    at,
  };
}
