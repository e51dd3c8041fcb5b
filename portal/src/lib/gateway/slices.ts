import { randomBytes } from 'node:crypto';
import type { LedgerItem, LedgerStore } from '../store/ledger';
import type { OwnSlice } from './ledger';

/**
 * Budget slices (DESIGN.md, "the gateway's hot path"): this process takes part of an
 * interview's remaining budget with one conditional decrement, ahead of need, and reserves
 * requests from it in memory. The ledger can never go below zero, and the sum of all slices
 * never exceeds what remained, so no interleaving of processes overshoots the budget.
 *
 * Lifecycle of a slice: put slice item → conditional ledger decrement (allocate) → requests
 * reserve and settle in memory → every `flushMs` the holder renews the lease and persists its
 * totals → when idle, retired, spent or at shutdown it is released (ledger gets the charges and
 * the unused part back, conditioned on the slice still being counted) and its item deleted.
 * A holder that dies is handled by the sweeper (sweeper.ts).
 *
 * A request bigger than any free slice gets a slice of its own size ("the slow path": one
 * conditional decrement for that request), released as soon as it settles. Near the end of a
 * budget every request takes that path, so when such a slice is released the pool writes the next
 * one's slice item ahead (a spare: uncounted, harmless if never used — the sweeper discards it
 * after its lease), and the next take is then one write instead of two.
 */
export interface SlicePoolConfig {
  sliceTokens: number;
  leaseMs: number;
  idleMs: number;
  flushMs: number;
  minCompletionTokens: number;
}

export class HeldSlice implements OwnSlice {
  used = 0;
  usedIn = 0;
  usedOut = 0;
  requests = 0;
  estimated = 0;
  /** Tokens held by requests in flight. */
  reserved = 0;
  inflight = 0;
  dirty = false;
  persistedAt = 0;
  /** No new reservations; released once the last request settles. */
  retired = false;
  /** Taken for one request bigger than any free slice (the slow path). */
  forRequest = false;
  state: 'open' | 'closing' | 'closed' | 'lost' = 'open';

  constructor(
    readonly sliceId: string,
    readonly interviewId: string,
    readonly amount: number,
    public leaseUntil: number,
    public lastUsedAt: number,
  ) {
    // Spread the slices' persist writes over the period (slices taken together would otherwise
    // all come due in the same flush, and a burst of SDK calls stalls the event loop).
    this.persistedAt = lastUsedAt - Math.random() * PERSIST_MS;
  }

  get free(): number {
    return this.amount - this.used - this.reserved;
  }
}

export interface Reservation {
  readonly interviewId: string;
  readonly slice: HeldSlice;
  /** promptReserve + maxCompletion: the most this request may be charged. */
  readonly amount: number;
  readonly promptReserve: number;
  /** The `max_completion_tokens` sent upstream (clamped to what is affordable). */
  readonly maxCompletion: number;
  /** Exact prompt tokens when they were counted to fit a tight budget. */
  readonly promptExact?: number;
  settled: boolean;
}

export interface ReserveRequest {
  /** Upper bound on the prompt (UTF-8 bytes; counting.ts). */
  promptBound: number;
  /** Exact prompt count, used only when the bound does not fit (off the event loop). */
  exactPrompt: () => Promise<number>;
  /** Reserve for an exact count (slack for provider templates). */
  reserveForExact: (exact: number) => number;
  wantCompletion: number;
}

export interface Charge {
  tokensIn: number;
  tokensOut: number;
  estimated: boolean;
}

export interface Settled {
  chargedIn: number;
  chargedOut: number;
  /** The provider reported more than the reservation; only the reservation was charged. */
  capped: boolean;
}

export type RefusalReason =
  | { kind: 'exhausted'; available: number; heldElsewhere: boolean }
  | { kind: 'prompt'; prompt: number; available: number }
  | { kind: 'closed' };

export class ReserveRefused extends Error {
  constructor(readonly reason: RefusalReason) {
    super(`reserve refused: ${reason.kind}`);
  }
}

/** Thrown when the ledger refuses for a reason other than the budget (deadline, ended, missing). */
export class LedgerClosed extends Error {
  constructor(readonly ledger: LedgerItem | null) {
    super('ledger closed');
  }
}

const PREFETCH_BACKOFF_MS = 1000;
/** A spare slice item is this much bigger than the take that led to it. */
const SPARE_HEADROOM = 1.25;
/** A slice's running totals are persisted at most this often (they only feed other processes' meters; charges live in the transcript). */
const PERSIST_MS = 5000;

/** A slice item written ahead of need and not counted by the ledger yet (see the class comment). */
interface Spare {
  interviewId: string;
  sliceId: string;
  amount: number;
  leaseUntil: number;
  /** Settles once the item's write has: true when it is durable. */
  written: Promise<boolean>;
}

export class SlicePool {
  private slices = new Map<string, HeldSlice[]>();
  private spares = new Map<string, Spare>();
  private takes = new Map<string, Promise<HeldSlice | null>>();
  private lastRemaining = new Map<string, number>();
  private prefetchBlockedUntil = new Map<string, number>();
  private pending = new Set<Promise<unknown>>();
  private timer?: NodeJS.Timeout;
  private flushing?: Promise<void>;
  private closed = false;

  constructor(
    private readonly deps: {
      ledger: LedgerStore;
      holder: string;
      config: SlicePoolConfig;
      now: () => number;
      log: { warn(o: object, m: string): void; error(o: object, m: string): void };
      /** Every ledger state this pool writes or reads (the access cache keeps its view current). */
      onLedger?: (ledger: LedgerItem) => void;
      /** A slice's totals changed (usage events). */
      onChange?: (interviewId: string) => void;
    },
  ) {}

  start(): void {
    this.timer = setInterval(() => void this.flush(), this.deps.config.flushMs);
    this.timer.unref();
  }

  /**
   * Reserves tokens for one request: from a held slice in memory when the prompt's byte bound
   * plus the wanted completion fits (the hot path), else by taking a slice; when the budget is
   * tight, with the exact prompt count and `max_completion_tokens` clamped to what is left.
   * Throws ReserveRefused (budget) or LedgerClosed (deadline, ended, missing).
   */
  async reserve(interviewId: string, r: ReserveRequest): Promise<Reservation> {
    if (this.closed) throw new ReserveRefused({ kind: 'closed' });
    const cfg = this.deps.config;
    let prompt = r.promptBound;
    let exact: number | undefined;
    const hot = this.tryReserve(interviewId, prompt, r.wantCompletion);
    if (hot) return hot;
    const taken = await this.takeAndReserve(interviewId, prompt, r.wantCompletion);
    if (taken) return taken;

    // The budget is tight: count the prompt exactly (worker thread) and try again.
    exact = await r.exactPrompt();
    const exactReserve = r.reserveForExact(exact);
    if (exactReserve < prompt) {
      prompt = exactReserve;
      const again =
        this.tryReserve(interviewId, prompt, r.wantCompletion, exact) ??
        (await this.takeAndReserve(interviewId, prompt, r.wantCompletion, exact));
      if (again) return again;
    }

    // Clamp: hand back our idle slices, then reserve what the budget can still pay for.
    await this.releaseIdle(interviewId);
    for (let attempt = 0; attempt < 4; attempt++) {
      const ledger = await this.deps.ledger.get(interviewId);
      if (!ledger || ledger.endedAt !== undefined || ledger.deadlineAt <= this.deps.now())
        throw new LedgerClosed(ledger);
      this.deps.onLedger?.(ledger);
      this.lastRemaining.set(interviewId, ledger.remaining);
      const local = this.bestFree(interviewId);
      const available = Math.max(ledger.remaining, local);
      const completion = Math.min(r.wantCompletion, available - prompt);
      if (completion < cfg.minCompletionTokens) {
        const ownAmount = (this.slices.get(interviewId) ?? []).reduce((n, s) => n + s.amount, 0);
        const heldElsewhere = ledger.sliced - ownAmount > 0;
        if (prompt + cfg.minCompletionTokens > ledger.budget - ledger.usedIn - ledger.usedOut) {
          throw new ReserveRefused({ kind: 'prompt', prompt: exact ?? prompt, available });
        }
        throw new ReserveRefused({ kind: 'exhausted', available, heldElsewhere });
      }
      const fromLocal = this.tryReserve(interviewId, prompt, completion, exact);
      if (fromLocal) return fromLocal;
      const own = await this.take(interviewId, prompt + completion, true);
      if (own) {
        const res = this.reserveFrom(own, prompt, completion, exact);
        if (res) return res;
      }
    }
    throw new ReserveRefused({ kind: 'exhausted', available: 0, heldElsewhere: true });
  }

  /** Records what a request is charged (at most its reservation) and frees the rest of it. Idempotent. */
  settle(res: Reservation, charge: Charge): Settled {
    if (res.settled) return { chargedIn: 0, chargedOut: 0, capped: false };
    res.settled = true;
    const tokensIn = Math.max(0, Math.floor(charge.tokensIn));
    const tokensOut = Math.max(0, Math.floor(charge.tokensOut));
    const chargedIn = Math.min(tokensIn, res.amount);
    const chargedOut = Math.min(tokensOut, res.amount - chargedIn);
    const s = res.slice;
    s.reserved -= res.amount;
    s.inflight -= 1;
    s.used += chargedIn + chargedOut;
    s.usedIn += chargedIn;
    s.usedOut += chargedOut;
    s.requests += 1;
    if (charge.estimated) s.estimated += 1;
    s.dirty = true;
    s.lastUsedAt = this.deps.now();
    if (s.state === 'lost') {
      this.deps.log.error(
        { interviewId: s.interviewId, sliceId: s.sliceId, charged: chargedIn + chargedOut },
        'gateway: charge settled after its slice was swept; it is recorded in the transcript only',
      );
    } else if (s.inflight === 0 && (s.retired || s.free < this.deps.config.minCompletionTokens)) {
      this.track(this.release(s));
    }
    this.deps.onChange?.(s.interviewId);
    return { chargedIn, chargedOut, capped: tokensIn + tokensOut > res.amount };
  }

  /** A fresh view of the ledger (access refresh): slice sizing and futile-take avoidance use it. */
  noteLedger(ledger: LedgerItem): void {
    this.lastRemaining.set(ledger.interviewId, ledger.remaining);
  }

  /** This process's slices of an interview (for the meter). */
  own(interviewId: string): OwnSlice[] {
    return this.slices.get(interviewId) ?? [];
  }

  /** Renews leases, persists totals, releases idle slices. Runs every `flushMs`; tests call it directly. */
  flush(): Promise<void> {
    if (this.flushing) return this.flushing;
    this.flushing = (async () => {
      const now = this.deps.now();
      const cfg = this.deps.config;
      const due: (() => Promise<unknown>)[] = [];
      for (const spare of this.spares.values())
        if (!this.spareUsable(spare, now)) this.discardSpare(spare);
      for (const list of this.slices.values()) {
        for (const s of list) {
          if (s.state !== 'open') continue;
          const idle =
            s.inflight === 0 &&
            (s.retired || now - s.lastUsedAt >= cfg.idleMs || s.free < cfg.minCompletionTokens);
          if (idle) due.push(() => this.release(s));
          else if (
            (s.dirty && now - s.persistedAt >= PERSIST_MS) ||
            s.leaseUntil - now < cfg.leaseMs / 2
          )
            due.push(() => this.renew(s, now));
        }
      }
      // One write started per turn of the event loop: each costs ~1 ms of SDK work (marshalling,
      // signing), and requests waiting to be served must not queue behind a whole batch.
      const work: Promise<unknown>[] = [];
      for (const start of due) {
        if (work.length > 0) await new Promise<void>((r) => setImmediate(r));
        work.push(start());
      }
      await Promise.all(work);
    })().finally(() => {
      this.flushing = undefined;
    });
    return this.flushing;
  }

  /** Retires every slice of the interview; released now if idle, else when their last request settles. */
  async releaseInterview(interviewId: string): Promise<void> {
    const spare = this.spares.get(interviewId);
    if (spare) this.discardSpare(spare);
    const list = this.slices.get(interviewId) ?? [];
    await Promise.all(
      list.map((s) => {
        s.retired = true;
        s.forRequest = false; // no spare for an interview whose access is closing
        return s.inflight === 0 && s.state === 'open' ? this.release(s) : Promise.resolve();
      }),
    );
  }

  /** Stops the timer and releases every slice (callers settle in-flight requests first). */
  async close(): Promise<void> {
    this.closed = true;
    if (this.timer) clearInterval(this.timer);
    await this.flushing;
    for (const spare of this.spares.values()) this.discardSpare(spare);
    // Prefetches may still land a slice: release until nothing is held (bounded, in case a
    // request was left unsettled by a caller bug).
    for (let round = 0; round < 5; round++) {
      await Promise.all([...this.pending, ...this.takes.values()].map((p) => p.catch(() => null)));
      if (this.slices.size === 0) break;
      await Promise.all([...this.slices.keys()].map((id) => this.releaseInterview(id)));
    }
  }

  // ---- internals ----

  private tryReserve(
    interviewId: string,
    prompt: number,
    completion: number,
    exact?: number,
  ): Reservation | null {
    const list = this.slices.get(interviewId);
    if (!list) return null;
    const need = prompt + completion;
    let best: HeldSlice | undefined;
    for (const s of list) {
      if (s.state !== 'open' || s.retired || s.free < need) continue;
      if (!best || s.free < best.free) best = s;
    }
    if (!best) return null;
    const res = this.reserveFrom(best, prompt, completion, exact);
    if (res && best.free < need) this.prefetch(interviewId, need);
    return res;
  }

  private reserveFrom(
    s: HeldSlice,
    prompt: number,
    completion: number,
    exact?: number,
  ): Reservation | null {
    const need = prompt + completion;
    if (s.state !== 'open' || s.free < need) return null;
    s.reserved += need;
    s.inflight += 1;
    s.lastUsedAt = this.deps.now();
    s.dirty = true;
    return {
      interviewId: s.interviewId,
      slice: s,
      amount: need,
      promptReserve: prompt,
      maxCompletion: completion,
      ...(exact !== undefined && { promptExact: exact }),
      settled: false,
    };
  }

  private bestFree(interviewId: string): number {
    let best = 0;
    for (const s of this.slices.get(interviewId) ?? [])
      if (s.state === 'open' && !s.retired) best = Math.max(best, s.free);
    return best;
  }

  /** Slice size: the configured size, shrinking to a quarter of what remains near the end (no process hoards the last tokens). */
  private cap(interviewId: string): number {
    const remaining = this.lastRemaining.get(interviewId);
    return remaining === undefined
      ? this.deps.config.sliceTokens
      : Math.min(this.deps.config.sliceTokens, Math.floor(remaining / 4));
  }

  private async takeAndReserve(
    interviewId: string,
    prompt: number,
    completion: number,
    exact?: number,
  ): Promise<Reservation | null> {
    const need = prompt + completion;
    for (let i = 0; i < 4; i++) {
      const hit = this.tryReserve(interviewId, prompt, completion, exact);
      if (hit) return hit;
      // Known not to fit: skip the writes that would fail (the clamp path reads the ledger fresh).
      const known = this.lastRemaining.get(interviewId);
      if (known !== undefined && known < need && !this.takes.has(interviewId)) return null;
      const inflight = this.takes.get(interviewId);
      if (inflight) {
        await inflight.catch(() => null);
        continue;
      }
      const cap = this.cap(interviewId);
      // Bigger than a slice: the slow path, a slice of its own returned as soon as it settles.
      if (need > cap) {
        const own = await this.take(interviewId, need, true);
        return own ? this.reserveFrom(own, prompt, completion, exact) : null;
      }
      let s = await this.take(interviewId, cap);
      if (!s && cap > need) s = await this.take(interviewId, need);
      if (!s) return null;
      const res = this.reserveFrom(s, prompt, completion, exact);
      if (res) return res;
    }
    return null;
  }

  private prefetch(interviewId: string, need: number): void {
    if (this.closed || this.takes.has(interviewId)) return;
    if ((this.prefetchBlockedUntil.get(interviewId) ?? 0) > this.deps.now()) return;
    const open = (this.slices.get(interviewId) ?? []).filter(
      (s) => s.state === 'open' && !s.retired,
    );
    const cap = this.cap(interviewId);
    if (open.length > 2 || cap < need) return;
    this.track(this.take(interviewId, cap).catch(() => null));
  }

  /**
   * Takes a slice: slice item first, then the conditional decrement. Null when the budget refuses.
   * The item is a spare written ahead when one fits (then only the decrement waits).
   */
  private take(interviewId: string, amount: number, retired = false): Promise<HeldSlice | null> {
    const p = (async () => {
      const now = this.deps.now();
      const spare = await this.claimSpare(interviewId, amount, now);
      if (spare) {
        const s = await this.count(
          interviewId,
          spare.sliceId,
          spare.amount,
          spare.leaseUntil,
          retired,
          now,
        );
        if (s) return s;
      }
      const item = this.writeItem(interviewId, amount, now);
      // If this write fails without an answer, the slice item stays: the sweeper resolves it after its lease.
      await item.written;
      return this.count(interviewId, item.sliceId, amount, item.leaseUntil, retired, now);
    })();
    if (!retired) {
      this.takes.set(interviewId, p);
      p.finally(() => {
        if (this.takes.get(interviewId) === p) this.takes.delete(interviewId);
      }).catch(() => {});
    }
    return p;
  }

  /** The conditional decrement for a written slice item; the held slice, or null (item deleted) when refused. */
  private async count(
    interviewId: string,
    sliceId: string,
    amount: number,
    leaseUntil: number,
    retired: boolean,
    now: number,
  ): Promise<HeldSlice | null> {
    const ledger = await this.deps.ledger.allocate(interviewId, sliceId, amount, now);
    if (!ledger) {
      this.prefetchBlockedUntil.set(interviewId, now + PREFETCH_BACKOFF_MS);
      // Less than `amount` remained (or the interview is closed): later takes that big are futile until a fresh view says otherwise.
      this.lastRemaining.set(
        interviewId,
        Math.min(this.lastRemaining.get(interviewId) ?? Infinity, amount - 1),
      );
      await this.deps.ledger.deleteSlice(interviewId, sliceId).catch(() => {});
      return null;
    }
    this.lastRemaining.set(interviewId, ledger.remaining);
    const s = new HeldSlice(sliceId, interviewId, amount, leaseUntil, now);
    s.retired = retired;
    s.forRequest = retired;
    const list = this.slices.get(interviewId) ?? [];
    list.push(s);
    this.slices.set(interviewId, list);
    this.deps.onLedger?.(ledger);
    return s;
  }

  /** Takes the interview's spare for a take of `amount`, if it can serve it (else discards it). */
  private async claimSpare(
    interviewId: string,
    amount: number,
    now: number,
  ): Promise<Spare | undefined> {
    const spare = this.spares.get(interviewId);
    if (!spare) return undefined;
    this.spares.delete(interviewId);
    // Bigger than the budget is known to have left: its decrement would fail, a wasted write.
    const fits =
      spare.amount >= amount && spare.amount <= (this.lastRemaining.get(interviewId) ?? 0);
    if (fits && this.spareUsable(spare, now) && (await spare.written)) return spare;
    this.discardSpare(spare);
    return undefined;
  }

  /**
   * Only a spare with half its lease left is used: a sweeper touches only expired items, so it
   * can never discard an item whose slice is being counted.
   */
  private spareUsable(spare: Spare, now: number): boolean {
    return spare.leaseUntil - now >= this.deps.config.leaseMs / 2;
  }

  /**
   * After a slow-path request, when the budget's tail is what made it slow: the next request will
   * likely take that path too, a little bigger (a conversation's prompt grows each turn) or clamped
   * to what remains, so its slice item is written now, sized for either.
   */
  private spareAfter(s: HeldSlice, ledger: LedgerItem): void {
    const { interviewId } = s;
    const now = this.deps.now();
    const open = ledger.endedAt === undefined && ledger.deadlineAt > now;
    if (this.closed || !open || this.spares.has(interviewId)) return;
    if (
      ledger.remaining < this.deps.config.minCompletionTokens ||
      this.cap(interviewId) >= this.deps.config.sliceTokens
    )
      return;
    const amount = Math.min(ledger.remaining, Math.ceil(s.amount * SPARE_HEADROOM));
    const item = this.writeItem(interviewId, amount, now);
    const written = item.written.then(
      () => true,
      () => false,
    );
    this.spares.set(interviewId, {
      interviewId,
      sliceId: item.sliceId,
      amount,
      leaseUntil: item.leaseUntil,
      written,
    });
    this.track(written);
  }

  /** Writes a new (uncounted) slice item with a fresh lease. */
  private writeItem(
    interviewId: string,
    amount: number,
    now: number,
  ): { sliceId: string; leaseUntil: number; written: Promise<void> } {
    const sliceId = randomBytes(9).toString('base64url');
    const leaseUntil = now + this.deps.config.leaseMs;
    const written = this.deps.ledger.putSlice({
      interviewId,
      sliceId,
      holder: this.deps.holder,
      amount,
      leaseUntil,
      now,
    });
    return { sliceId, leaseUntil, written };
  }

  /** Deletes an unused spare's item (an uncounted item: deleting it is always safe). */
  private discardSpare(spare: Spare): void {
    if (this.spares.get(spare.interviewId) === spare) this.spares.delete(spare.interviewId);
    this.track(
      spare.written
        .then(() => this.deps.ledger.deleteSlice(spare.interviewId, spare.sliceId))
        .catch(() => {}),
    );
  }

  private async renew(s: HeldSlice, now: number): Promise<void> {
    s.dirty = false;
    s.persistedAt = now;
    const leaseUntil = now + this.deps.config.leaseMs;
    try {
      const ok = await this.deps.ledger.renewSlice(
        s.interviewId,
        s.sliceId,
        this.deps.holder,
        leaseUntil,
        s,
      );
      if (ok) s.leaseUntil = leaseUntil;
      else {
        // A sweeper took it over (this process stalled past its lease): stop using it.
        this.deps.log.warn(
          { interviewId: s.interviewId, sliceId: s.sliceId },
          'gateway: slice lost to the sweeper',
        );
        s.state = 'lost';
        this.drop(s);
      }
    } catch (e) {
      s.dirty = true;
      this.deps.log.warn(
        { sliceId: s.sliceId, err: (e as Error).message },
        'gateway: slice renewal failed; retrying',
      );
    }
  }

  private async release(s: HeldSlice): Promise<void> {
    if (s.state !== 'open') return;
    s.state = 'closing';
    try {
      const ledger = await this.deps.ledger.release(
        s.interviewId,
        s.sliceId,
        s.amount,
        s,
        this.deps.now(),
      );
      if (ledger) {
        this.lastRemaining.set(s.interviewId, ledger.remaining);
        this.deps.onLedger?.(ledger);
        if (s.forRequest) this.spareAfter(s, ledger);
      }
      await this.deps.ledger.deleteSlice(s.interviewId, s.sliceId).catch(() => {});
      s.state = 'closed';
      this.drop(s);
      this.deps.onChange?.(s.interviewId);
    } catch (e) {
      // Unknown outcome: the release is conditional on the slice still being counted, so retrying is safe.
      s.state = 'open';
      s.retired = true;
      this.deps.log.warn(
        { sliceId: s.sliceId, err: (e as Error).message },
        'gateway: slice release failed; retrying',
      );
    }
  }

  private async releaseIdle(interviewId: string): Promise<void> {
    await Promise.all(
      (this.slices.get(interviewId) ?? [])
        .filter((s) => s.state === 'open' && s.inflight === 0)
        .map((s) => this.release(s)),
    );
  }

  private drop(s: HeldSlice): void {
    const list = this.slices.get(s.interviewId);
    if (!list) return;
    const i = list.indexOf(s);
    if (i >= 0) list.splice(i, 1);
    if (list.length === 0) this.slices.delete(s.interviewId);
  }

  private track(p: Promise<unknown>): void {
    this.pending.add(p);
    p.finally(() => this.pending.delete(p)).catch(() => {});
  }
}
