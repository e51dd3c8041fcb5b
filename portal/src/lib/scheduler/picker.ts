import type { Catalog } from '../operations/catalog';
import type { OperationRecord, OperationType } from '../store/types';

/** When an operation became claimable: its due time, or when its lease ran out. */
export const dueTime = (op: OperationRecord) =>
  op.status === 'running' ? (op.leaseUntil ?? 0) : op.scheduledAt;

/** A stable pseudo-random number per (owner, id) (FNV-1a). */
export function spread(owner: string, id: string): number {
  let h = 0x811c9dc5;
  const key = owner + id;
  for (let i = 0; i < key.length; i++) h = Math.imul(h ^ key.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

/** Slots only destroys may use: a quarter of the concurrency, at least one (none if it is 1). */
export const destroyReserve = (concurrency: number) =>
  concurrency >= 2 ? Math.max(1, Math.floor(concurrency / 4)) : 0;

export interface PickInput {
  candidates: OperationRecord[];
  /** Types of the operations holding slots now (running or being claimed). */
  busy: OperationType[];
  concurrency: number;
  catalog: Catalog;
  owner: string;
}

/**
 * Which candidates to claim now (pure). Destroys first (catalog priority), then by due time;
 * within one 250 ms slot of due time the order is a per-owner hash, so schedulers facing the
 * same burst try different operations first instead of racing for the same ones (a lost race
 * is a wasted conditional write). Creates never take the destroy reserve, so long creates can
 * not starve a deadline (I2).
 */
export function pickClaims(i: PickInput): { picked: OperationRecord[]; backlog: number } {
  const sorted = i.candidates
    .map((op) => ({
      op,
      priority: i.catalog[op.type].priority,
      rank: Math.floor(dueTime(op) / 250),
      spread: spread(i.owner, op.id),
    }))
    .sort((a, b) => a.priority - b.priority || a.rank - b.rank || a.spread - b.spread)
    .map((k) => k.op);
  const reserve = destroyReserve(i.concurrency);
  let busy = i.busy.length;
  let busyOther = i.busy.filter((t) => t !== 'destroy').length;
  const picked: OperationRecord[] = [];
  for (const op of sorted) {
    if (busy >= i.concurrency) break;
    if (op.type !== 'destroy' && busyOther >= i.concurrency - reserve) continue;
    picked.push(op);
    busy++;
    if (op.type !== 'destroy') busyOther++;
  }
  return { picked, backlog: sorted.length - picked.length };
}
