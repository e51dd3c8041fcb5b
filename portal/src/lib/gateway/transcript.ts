import { z } from 'zod';
import { chunkKey, messageKey, type MessageItem, type MessageStore } from '../store/messages';
import { contentText, type ChatMessage } from './request';

/**
 * Message content is stored whole, in items of at most CHUNK_CHARS characters (≤ 96 KB each,
 * under DynamoDB's 400 KB item limit). Chunking also bounds event-loop work: the AWS SDK
 * serializes request bodies with a per-character loop (~60 ns/char), so one BatchWriteItem
 * carries at most BATCH_CHARS characters and batches start one per event-loop turn — a 1 MB
 * paste is written in ~2 ms steps, never as one 60 ms block.
 */
const CHUNK_CHARS = 24_000;
const BATCH_CHARS = 24_000;
const ITEMS_PER_BATCH = 25;
/** At most this many new prompt messages are stored per request. */
const MAX_PROMPT_ITEMS = 16;
/**
 * Group commit: at most this many writes in flight; what arrives meanwhile rides in the next,
 * fuller batch. No batch waits for company: a linger window (25 ms, tried) ended the answers it
 * held together, and their clients' next requests then arrived as one burst — time to first
 * token under load went up by more than a millisecond for every path through the box, direct
 * calls included.
 */
const MAX_PARALLEL_FLUSHES = 2;
/** A transcript page's query (`?cursor&limit`), for the interviewer's and the candidate's routes. */
export const transcriptPageQuery = z.object({
  cursor: z.string().max(200).optional(),
  limit: z.coerce.number().int().min(1).max(500).default(200),
});

/** One transcript entry as the API shows it. */
export interface TranscriptMessage {
  id: string;
  requestId: string;
  at: string;
  role: MessageItem['role'];
  content: string;
  contentTruncated?: boolean;
  toolCalls?: unknown;
  model?: string;
  tokensIn?: number;
  tokensOut?: number;
  estimated?: boolean;
  status?: MessageItem['status'];
  finishReason?: string;
  error?: string;
  latencyMs?: number;
  ttftMs?: number;
}

/**
 * The conversation store. `record` resolves once the items are durable (the exchange waits for
 * it before its response ends, I3). Writes from concurrent requests are grouped into
 * BatchWriteItem calls (group commit): a batch goes out as soon as a write slot is free, with
 * everything queued up to 25 items or BATCH_CHARS, so a busy process spends one SDK call per
 * several answers instead of one per answer, and an idle one writes at once.
 */
export class Transcript {
  private queue: { items: MessageItem[]; chars: number; done: (e?: Error) => void }[] = [];
  private flushes = 0;

  constructor(private readonly store: MessageStore) {}

  /** Stores messages (long content split into chunk items); resolves once all are durable. */
  record(messages: MessageItem[]): Promise<void> {
    const items = messages.flatMap(splitContent);
    if (items.length === 0) return Promise.resolve();
    // One queue entry per batch-sized group, all settling this call's promise.
    const groups: MessageItem[][] = [];
    let cur: MessageItem[] = [];
    let chars = 0;
    for (const it of items) {
      if (
        cur.length > 0 &&
        (cur.length >= ITEMS_PER_BATCH || chars + it.content.length > BATCH_CHARS)
      ) {
        groups.push(cur);
        cur = [];
        chars = 0;
      }
      cur.push(it);
      chars += it.content.length;
    }
    groups.push(cur);
    return Promise.all(
      groups.map(
        (g) =>
          new Promise<void>((resolve, reject) => {
            const chars = g.reduce((n, i) => n + i.content.length, 0);
            this.queue.push({ items: g, chars, done: (e) => (e ? reject(e) : resolve()) });
            this.pump();
          }),
      ),
    ).then(() => undefined);
  }

  async list(
    interviewId: string,
    opts: { cursor?: string; limit: number },
  ): Promise<{ messages: TranscriptMessage[]; nextCursor?: string }> {
    const after = opts.cursor ? decodeCursor(opts.cursor) : undefined;
    const page = await this.store.list(interviewId, {
      ...(after && { cursor: after }),
      limit: opts.limit,
    });
    const heads: MessageItem[] = [];
    let lastSk = page.cursor;
    for (const it of page.items) {
      if (it.chunkOf) {
        const head = heads.at(-1);
        if (head?.sk === it.chunkOf) head.content += it.content;
        continue; // a continuation whose head was on the previous page was merged there
      }
      heads.push({ ...it });
    }
    // The page ended inside a long message: fetch the rest of it, and continue after it.
    const last = heads.at(-1);
    if (
      last?.chunks &&
      page.cursor &&
      page.items.at(-1)!.sk !== chunkKey(last.sk, last.chunks - 1)
    ) {
      const rest = await this.store.continuations(interviewId, last.sk);
      const rawHead = page.items.find((i) => i.sk === last.sk)!;
      last.content = [rawHead, ...rest].map((i) => i.content).join('');
      lastSk = rest.at(-1)?.sk ?? lastSk;
    }
    return {
      messages: heads.map(toView),
      ...(lastSk && { nextCursor: Buffer.from(lastSk, 'utf8').toString('base64url') }),
    };
  }

  private pump(): void {
    while (this.flushes < MAX_PARALLEL_FLUSHES && this.queue.length > 0) {
      this.flushOne();
      // The SDK serializes each call synchronously: start a second batch on a later turn.
      if (this.queue.length > 0) {
        setImmediate(() => this.pump());
        return;
      }
    }
  }

  private flushOne(): void {
    const batch: typeof this.queue = [];
    let n = 0;
    let chars = 0;
    while (this.queue.length > 0) {
      const next = this.queue[0]!;
      if (
        batch.length > 0 &&
        (n + next.items.length > ITEMS_PER_BATCH || chars + next.chars > BATCH_CHARS)
      )
        break;
      batch.push(this.queue.shift()!);
      n += next.items.length;
      chars += next.chars;
    }
    this.flushes++;
    this.store
      .putBatch(batch.flatMap((b) => b.items))
      .then(
        () => batch.forEach((b) => b.done()),
        (e: Error) => batch.forEach((b) => b.done(e)),
      )
      .finally(() => {
        this.flushes--;
        this.pump();
      });
  }
}

/** A message item, or its head plus continuation items when the content is long. */
function splitContent(item: MessageItem): MessageItem[] {
  const text = item.content;
  if (text.length <= CHUNK_CHARS) return [item];
  const pieces: string[] = [];
  for (let i = 0; i < text.length;) {
    let j = Math.min(i + CHUNK_CHARS, text.length);
    if (j < text.length && (text.charCodeAt(j) & 0xfc00) === 0xdc00) j--; // keep surrogate pairs whole
    pieces.push(text.slice(i, j));
    i = j;
  }
  const head: MessageItem = { ...item, content: pieces[0]!, chunks: pieces.length };
  return [
    head,
    ...pieces.slice(1).map((content, k) => ({
      interviewId: item.interviewId,
      sk: chunkKey(item.sk, k + 1),
      requestId: item.requestId,
      at: item.at,
      role: item.role,
      content,
      chunkOf: item.sk,
    })),
  ];
}

function decodeCursor(c: string): string | undefined {
  const s = Buffer.from(c, 'base64url').toString('utf8');
  return /^\d{13}#[\w-]+#\w+(~\d{4})?$/.test(s) ? s : undefined;
}

function toView(m: MessageItem): TranscriptMessage {
  let toolCalls: unknown;
  if (m.toolCalls) {
    try {
      toolCalls = JSON.parse(m.toolCalls);
    } catch {
      toolCalls = m.toolCalls;
    }
  }
  return {
    id: m.sk,
    requestId: m.requestId,
    at: new Date(m.at).toISOString(),
    role: m.role,
    content: m.content,
    ...(m.contentTruncated && { contentTruncated: true }),
    ...(toolCalls !== undefined && { toolCalls }),
    ...(m.model && { model: m.model }),
    ...(m.tokensIn !== undefined && { tokensIn: m.tokensIn }),
    ...(m.tokensOut !== undefined && { tokensOut: m.tokensOut }),
    ...(m.estimated !== undefined && { estimated: m.estimated }),
    ...(m.status && { status: m.status }),
    ...(m.finishReason && { finishReason: m.finishReason }),
    ...(m.errorCode && { error: m.errorCode }),
    ...(m.latencyMs !== undefined && { latencyMs: m.latencyMs }),
    ...(m.ttftMs !== undefined && { ttftMs: m.ttftMs }),
  };
}

/** Cuts text to at most `max` UTF-8 bytes (cheap when it is clearly short). */
export function truncateUtf8(text: string, max: number): { text: string; truncated: boolean } {
  if (text.length * 3 <= max) return { text, truncated: false };
  const b = Buffer.from(text, 'utf8');
  if (b.length <= max) return { text, truncated: false };
  return {
    text: b
      .subarray(0, max)
      .toString('utf8')
      .replace(/\uFFFD+$/, ''),
    truncated: true,
  };
}

/**
 * The prompt messages a request adds to the conversation: those after the last assistant
 * message (clients resend the whole history every time; storing it again would grow the
 * transcript quadratically). The first request of a conversation stores all of them.
 */
export function newPromptMessages(messages: ChatMessage[]): ChatMessage[] {
  let i = messages.length - 1;
  while (i >= 0 && messages[i]!.role !== 'assistant') i--;
  return messages.slice(i + 1).slice(-MAX_PROMPT_ITEMS);
}

export function promptItems(
  interviewId: string,
  requestId: string,
  at: number,
  messages: ChatMessage[],
): MessageItem[] {
  return newPromptMessages(messages).map((m, i) => ({
    interviewId,
    sk: messageKey(at, requestId, `p${String(i).padStart(2, '0')}`),
    requestId,
    at,
    role: m.role,
    content: contentText(m.content),
  }));
}
