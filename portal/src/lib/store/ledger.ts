import { isConditionFailure } from './conditions';
import {
  BatchGetCommand,
  DeleteCommand,
  GetCommand,
  PutCommand,
  QueryCommand,
  UpdateCommand,
  type DynamoDBDocumentClient,
} from '@aws-sdk/lib-dynamodb';
import { INDEX } from './tables';

/**
 * The AI ledger table: one ledger item per interview plus one item per budget slice.
 *
 * Ledger item (`sk = 'ledger'`). Invariant, kept by every write below with single-item
 * conditional updates (dynalite has no transactions):
 *   budget = remaining + sliced + usedIn + usedOut
 * `remaining` is what no process holds; `sliced` is the sum of the open slices' amounts, whose
 * ids are in `openSlices`. A slice's charges reach usedIn/usedOut when it is released.
 *
 * Slice item (`sk = 'slice#<id>'`): written BEFORE the ledger is decremented for it, so a process
 * that dies between the two writes leaves a findable item (through the sparse `sliceOpen` index)
 * and never an orphaned decrement.
 */
export const LEDGER_SK = 'ledger';
const SLICE_PREFIX = 'slice#';
/** Value of the sparse GSI hash key on every slice item (one partition: few slices exist at once). */
const SLICE_OPEN = 'open';

export interface LedgerItem {
  interviewId: string;
  sk: typeof LEDGER_SK;
  budget: number;
  remaining: number;
  sliced: number;
  usedIn: number;
  usedOut: number;
  requests: number;
  /** Requests charged with an estimate (usage missing). */
  estimated: number;
  openSlices?: Set<string>;
  deadlineAt: number;
  /** AI access ended early by the interviewer. */
  endedAt?: number;
  /** Every gateway token issued up to this time is revoked (destroy). Lets a verifier see revocation from the ledger alone. */
  tokensRevokedAt?: number;
  /** Model pinned for this interview (from `interview.ai.model`). */
  model?: string;
  createdAt: number;
  updatedAt: number;
  version: number;
}

export interface SliceItem {
  interviewId: string;
  sk: string;
  sliceId: string;
  holder: string;
  amount: number;
  /** Last persisted totals of what the holder charged (informational; the sweeper sums messages). */
  used: number;
  usedIn: number;
  usedOut: number;
  requests: number;
  estimated: number;
  /** Tokens held by requests in flight at the last flush. */
  reserved: number;
  leaseUntil: number;
  state: 'open' | 'sweeping';
  sliceOpen: string;
  sweeper?: string;
  sweepUntil?: number;
  createdAt: number;
}

export interface SliceTotals {
  used: number;
  usedIn: number;
  usedOut: number;
  requests: number;
  estimated: number;
  reserved: number;
}

export const sliceKey = (sliceId: string) => `${SLICE_PREFIX}${sliceId}`;

/** Runs a conditional write; resolves to `null` when the condition did not hold. */
async function conditional<T>(run: () => Promise<T>): Promise<T | null> {
  try {
    return await run();
  } catch (e) {
    if (isConditionFailure(e)) return null;
    throw e;
  }
}

export class LedgerStore {
  constructor(
    private readonly db: DynamoDBDocumentClient,
    private readonly table: string,
    /**
     * For the budget-slice writes (take, release, renew, delete): the gateway runs them in a worker
     * thread. Their SDK work (~1–2 ms of CPU a call) on the main event loop showed up in every other
     * request's time to first token — near the end of one interview's budget each answer costs four
     * such writes. (Reads stay here: a request waiting on one should not pay the thread hop.)
     */
    private readonly background: DynamoDBDocumentClient = db,
  ) {}

  /** Creates the ledger if it does not exist; returns false when it already existed. */
  async create(input: {
    interviewId: string;
    budget: number;
    deadlineAt: number;
    model?: string;
    now: number;
  }): Promise<boolean> {
    const item: LedgerItem = {
      interviewId: input.interviewId,
      sk: LEDGER_SK,
      budget: input.budget,
      remaining: input.budget,
      sliced: 0,
      usedIn: 0,
      usedOut: 0,
      requests: 0,
      estimated: 0,
      deadlineAt: input.deadlineAt,
      ...(input.model && { model: input.model }),
      createdAt: input.now,
      updatedAt: input.now,
      version: 1,
    };
    const r = await conditional(() =>
      this.db.send(
        new PutCommand({
          TableName: this.table,
          Item: item,
          ConditionExpression: 'attribute_not_exists(interviewId)',
        }),
      ),
    );
    return r !== null;
  }

  async get(interviewId: string): Promise<LedgerItem | null> {
    const r = await this.db.send(
      new GetCommand({
        TableName: this.table,
        Key: { interviewId, sk: LEDGER_SK },
        ConsistentRead: true,
      }),
    );
    return (r.Item as LedgerItem | undefined) ?? null;
  }

  /** Several ledgers in one call (the access cache's background refresh); missing ones are absent from the map. */
  async getMany(interviewIds: string[]): Promise<Map<string, LedgerItem>> {
    const out = new Map<string, LedgerItem>();
    for (let i = 0; i < interviewIds.length; i += 100) {
      let keys: Record<string, unknown>[] | undefined = interviewIds
        .slice(i, i + 100)
        .map((interviewId) => ({ interviewId, sk: LEDGER_SK }));
      for (let attempt = 0; keys && keys.length > 0 && attempt < 5; attempt++) {
        const r = await this.db.send(
          new BatchGetCommand({
            RequestItems: { [this.table]: { Keys: keys, ConsistentRead: true } },
          }),
        );
        for (const it of (r.Responses?.[this.table] ?? []) as LedgerItem[])
          out.set(it.interviewId, it);
        keys = r.UnprocessedKeys?.[this.table]?.Keys as Record<string, unknown>[] | undefined;
      }
    }
    return out;
  }

  /**
   * Moves `amount` from `remaining` into the open slice `sliceId`: the one conditional decrement
   * that makes overshoot impossible (`remaining >= amount`). Null when the budget, the deadline or
   * an ended access forbids it, or when this slice id was already counted.
   */
  async allocate(
    interviewId: string,
    sliceId: string,
    amount: number,
    now: number,
  ): Promise<LedgerItem | null> {
    return this.updateLedger(
      interviewId,
      {
        update:
          'SET remaining = remaining - :a, sliced = sliced + :a, updatedAt = :now ADD openSlices :ids',
        condition:
          'remaining >= :a AND deadlineAt > :now AND attribute_not_exists(endedAt) AND NOT contains(openSlices, :id)',
        values: { ':a': amount, ':now': now, ':ids': new Set([sliceId]), ':id': sliceId },
      },
      this.background,
    );
  }

  /**
   * Closes slice `sliceId`: its charges move into usedIn/usedOut, its unused part back into
   * `remaining`. Idempotent: conditioned on the slice still being counted, so the holder and a
   * sweeper can both try and only one applies. Null when it was not (or no longer) counted.
   */
  async release(
    interviewId: string,
    sliceId: string,
    amount: number,
    t: Omit<SliceTotals, 'used' | 'reserved'>,
    now: number,
  ): Promise<LedgerItem | null> {
    const used = t.usedIn + t.usedOut;
    if (used > amount)
      throw new Error(`slice ${sliceId}: charges ${used} exceed its amount ${amount}`);
    return this.updateLedger(
      interviewId,
      {
        update:
          'SET remaining = remaining + :back, sliced = sliced - :a, usedIn = usedIn + :ui, usedOut = usedOut + :uo, ' +
          'requests = requests + :rq, estimated = estimated + :est, updatedAt = :now DELETE openSlices :ids',
        condition: 'contains(openSlices, :id)',
        values: {
          ':back': amount - used,
          ':a': amount,
          ':ui': t.usedIn,
          ':uo': t.usedOut,
          ':rq': t.requests,
          ':est': t.estimated,
          ':now': now,
          ':ids': new Set([sliceId]),
          ':id': sliceId,
        },
      },
      this.background,
    );
  }

  /** Adds tokens and/or moves the deadline later. Null when the ledger is missing or the deadline would move earlier. */
  async extend(
    interviewId: string,
    change: { tokens?: number; deadlineAt?: number; expectBudget?: number },
    now: number,
  ): Promise<LedgerItem | null> {
    const sets = ['updatedAt = :now', 'version = version + :one'];
    const values: Record<string, unknown> = { ':now': now, ':one': 1 };
    let condition = 'attribute_exists(interviewId)';
    if (change.tokens) {
      sets.push('budget = budget + :t', 'remaining = remaining + :t');
      values[':t'] = change.tokens;
    }
    if (change.expectBudget !== undefined) {
      // Raising to a target (Gateway.syncLimits): only from the budget the caller computed it from.
      condition += ' AND budget = :eb';
      values[':eb'] = change.expectBudget;
    }
    if (change.deadlineAt !== undefined) {
      sets.push('deadlineAt = :d');
      values[':d'] = change.deadlineAt;
      condition += ' AND deadlineAt <= :d';
    }
    return this.updateLedger(interviewId, { update: 'SET ' + sets.join(', '), condition, values });
  }

  /** Ends AI access (idempotent: keeps the first end time). Null when the ledger is missing. */
  async end(interviewId: string, now: number): Promise<LedgerItem | null> {
    return this.updateLedger(interviewId, {
      update:
        'SET endedAt = if_not_exists(endedAt, :now), updatedAt = :now, version = version + :one',
      condition: 'attribute_exists(interviewId)',
      values: { ':now': now, ':one': 1 },
    });
  }

  /** Records that every token issued so far is revoked. Null when the ledger is missing. */
  async revokeTokens(interviewId: string, now: number): Promise<LedgerItem | null> {
    return this.updateLedger(interviewId, {
      update: 'SET tokensRevokedAt = :now, updatedAt = :now, version = version + :one',
      condition: 'attribute_exists(interviewId)',
      values: { ':now': now, ':one': 1 },
    });
  }

  /**
   * One conditional update of the ledger item, returning its new state; null when the condition
   * failed. Every budget change is one of these (dynalite has no transactions).
   */
  private async updateLedger(
    interviewId: string,
    u: { update: string; condition: string; values: Record<string, unknown> },
    client: DynamoDBDocumentClient = this.db,
  ): Promise<LedgerItem | null> {
    const r = await conditional(() =>
      client.send(
        new UpdateCommand({
          TableName: this.table,
          Key: { interviewId, sk: LEDGER_SK },
          UpdateExpression: u.update,
          ConditionExpression: u.condition,
          ExpressionAttributeValues: u.values,
          ReturnValues: 'ALL_NEW',
        }),
      ),
    );
    return (r?.Attributes as LedgerItem | undefined) ?? null;
  }

  // ---- slices ----

  async putSlice(input: {
    interviewId: string;
    sliceId: string;
    holder: string;
    amount: number;
    leaseUntil: number;
    now: number;
  }): Promise<void> {
    const item: SliceItem = {
      interviewId: input.interviewId,
      sk: sliceKey(input.sliceId),
      sliceId: input.sliceId,
      holder: input.holder,
      amount: input.amount,
      used: 0,
      usedIn: 0,
      usedOut: 0,
      requests: 0,
      estimated: 0,
      reserved: 0,
      leaseUntil: input.leaseUntil,
      state: 'open',
      sliceOpen: SLICE_OPEN,
      createdAt: input.now,
    };
    await this.background.send(
      new PutCommand({
        TableName: this.table,
        Item: item,
        ConditionExpression: 'attribute_not_exists(sk)',
      }),
    );
  }

  /** Renews the holder's lease and persists its running totals; false when the slice is no longer the holder's. */
  async renewSlice(
    interviewId: string,
    sliceId: string,
    holder: string,
    leaseUntil: number,
    t: SliceTotals,
  ): Promise<boolean> {
    const r = await conditional(() =>
      this.background.send(
        new UpdateCommand({
          TableName: this.table,
          Key: { interviewId, sk: sliceKey(sliceId) },
          UpdateExpression:
            'SET leaseUntil = :l, used = :u, usedIn = :ui, usedOut = :uo, requests = :rq, estimated = :est, reserved = :rs',
          ConditionExpression: 'holder = :h AND #st = :open',
          ExpressionAttributeNames: { '#st': 'state' },
          ExpressionAttributeValues: {
            ':l': leaseUntil,
            ':u': t.used,
            ':ui': t.usedIn,
            ':uo': t.usedOut,
            ':rq': t.requests,
            ':est': t.estimated,
            ':rs': t.reserved,
            ':h': holder,
            ':open': 'open',
          },
        }),
      ),
    );
    return r !== null;
  }

  /**
   * A sweeper takes over a slice whose lease expired (or whose previous sweeper died). After this
   * the holder's renewals fail, so the holder cannot keep charging into it.
   */
  async claimSlice(
    interviewId: string,
    sliceId: string,
    sweeper: string,
    now: number,
    sweepUntil: number,
  ): Promise<SliceItem | null> {
    const r = await conditional(() =>
      this.db.send(
        new UpdateCommand({
          TableName: this.table,
          Key: { interviewId, sk: sliceKey(sliceId) },
          UpdateExpression: 'SET #st = :sweeping, sweeper = :me, sweepUntil = :su',
          ConditionExpression:
            'attribute_exists(sk) AND ((#st = :open AND leaseUntil < :now) OR (#st = :sweeping AND sweepUntil < :now))',
          ExpressionAttributeNames: { '#st': 'state' },
          ExpressionAttributeValues: {
            ':sweeping': 'sweeping',
            ':open': 'open',
            ':me': sweeper,
            ':su': sweepUntil,
            ':now': now,
          },
          ReturnValues: 'ALL_NEW',
        }),
      ),
    );
    return (r?.Attributes as SliceItem | undefined) ?? null;
  }

  async deleteSlice(interviewId: string, sliceId: string): Promise<void> {
    await this.background.send(
      new DeleteCommand({ TableName: this.table, Key: { interviewId, sk: sliceKey(sliceId) } }),
    );
  }

  async slices(interviewId: string): Promise<SliceItem[]> {
    const out: SliceItem[] = [];
    let start: Record<string, unknown> | undefined;
    do {
      const r = await this.db.send(
        new QueryCommand({
          TableName: this.table,
          KeyConditionExpression: 'interviewId = :i AND begins_with(sk, :p)',
          ExpressionAttributeValues: { ':i': interviewId, ':p': SLICE_PREFIX },
          ConsistentRead: true,
          ExclusiveStartKey: start,
        }),
      );
      out.push(...((r.Items ?? []) as SliceItem[]));
      start = r.LastEvaluatedKey;
    } while (start);
    return out;
  }

  /** Slices (of any interview) whose lease ended before `before`, oldest first. */
  async expiredSlices(before: number, limit: number): Promise<SliceItem[]> {
    const r = await this.db.send(
      new QueryCommand({
        TableName: this.table,
        IndexName: INDEX.aiOpenSlices,
        KeyConditionExpression: 'sliceOpen = :o AND leaseUntil < :b',
        ExpressionAttributeValues: { ':o': SLICE_OPEN, ':b': before },
        Limit: limit,
      }),
    );
    return (r.Items ?? []) as SliceItem[];
  }
}
