import { messageKey, type MessageItem, type MessageStore } from '../store/messages';
import { contentText, type ChatMessage } from './request';

/** Content stored per message item (DynamoDB items are limited to 400 KB); longer content is cut and flagged. */
export const MAX_STORED_CONTENT_BYTES = 300_000;
/** At most this many new prompt messages are stored per request. */
const MAX_PROMPT_ITEMS = 16;
const MAX_PARALLEL_FLUSHES = 4;
const ITEMS_PER_BATCH = 25;

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
 * BatchWriteItem calls (group commit: a flush starts at once when none is running, and what
 * arrives meanwhile goes in the next one), so a busy process spends one SDK call per ~25 items
 * instead of one per item, with no added wait when idle.
 */
export class Transcript {
  private queue: { items: MessageItem[]; done: (e?: Error) => void }[] = [];
  private flushes = 0;

  constructor(private readonly store: MessageStore) {}

  record(items: MessageItem[]): Promise<void> {
    if (items.length === 0) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      this.queue.push({ items, done: (e) => (e ? reject(e) : resolve()) });
      this.pump();
    });
  }

  async list(interviewId: string, opts: { cursor?: string; limit: number }): Promise<{ messages: TranscriptMessage[]; nextCursor?: string }> {
    const after = opts.cursor ? decodeCursor(opts.cursor) : undefined;
    const page = await this.store.list(interviewId, { ...(after && { cursor: after }), limit: opts.limit });
    return {
      messages: page.items.map(toView),
      ...(page.cursor && { nextCursor: Buffer.from(page.cursor, 'utf8').toString('base64url') }),
    };
  }

  private pump(): void {
    while (this.flushes < MAX_PARALLEL_FLUSHES && this.queue.length > 0) {
      const batch: typeof this.queue = [];
      let n = 0;
      while (this.queue.length > 0 && (batch.length === 0 || n + this.queue[0]!.items.length <= ITEMS_PER_BATCH)) {
        const next = this.queue.shift()!;
        batch.push(next);
        n += next.items.length;
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
}

function decodeCursor(c: string): string | undefined {
  const s = Buffer.from(c, 'base64url').toString('utf8');
  return /^\d{13}#[\w-]+#[\w]+$/.test(s) ? s : undefined;
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
export function truncateUtf8(text: string, max = MAX_STORED_CONTENT_BYTES): { text: string; truncated: boolean } {
  if (text.length * 3 <= max) return { text, truncated: false };
  const b = Buffer.from(text, 'utf8');
  if (b.length <= max) return { text, truncated: false };
  return { text: b.subarray(0, max).toString('utf8').replace(/\uFFFD+$/, ''), truncated: true };
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

export function promptItems(interviewId: string, requestId: string, at: number, messages: ChatMessage[]): MessageItem[] {
  return newPromptMessages(messages).map((m, i) => {
    const { text, truncated } = truncateUtf8(contentText(m.content));
    return {
      interviewId,
      sk: messageKey(at, requestId, `p${String(i).padStart(2, '0')}`),
      requestId,
      at,
      role: m.role,
      content: text,
      ...(truncated && { contentTruncated: true }),
    };
  });
}
