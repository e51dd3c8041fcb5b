import type { IncomingMessage } from 'node:http';
import { z } from 'zod';
import { zodFields } from '../http/errors';
import { gwErrors } from './errors';

/**
 * The chat-completions request a candidate may send: an allow-list. Unknown parameters are
 * refused with a 400 naming them (so nothing the gateway cannot meter, such as `n > 1`,
 * `logprobs` or audio output, reaches the provider). Content is text only.
 */
const textPart = z.strictObject({ type: z.literal('text'), text: z.string() });
const content = z.union([z.string(), z.array(textPart).max(256)]);

const toolCall = z.strictObject({
  id: z.string().max(256),
  type: z.literal('function'),
  function: z.strictObject({ name: z.string().max(256), arguments: z.string() }),
});

const message = z.discriminatedUnion('role', [
  z.strictObject({ role: z.literal('system'), content, name: z.string().max(256).optional() }),
  z.strictObject({ role: z.literal('developer'), content, name: z.string().max(256).optional() }),
  z.strictObject({ role: z.literal('user'), content, name: z.string().max(256).optional() }),
  z.strictObject({
    role: z.literal('assistant'),
    content: content.nullable().optional(),
    name: z.string().max(256).optional(),
    refusal: z.string().nullable().optional(),
    tool_calls: z.array(toolCall).max(128).optional(),
  }),
  z.strictObject({ role: z.literal('tool'), content, tool_call_id: z.string().max(256) }),
]);

const tool = z.strictObject({
  type: z.literal('function'),
  function: z.strictObject({
    name: z.string().min(1).max(64),
    description: z.string().max(8192).optional(),
    parameters: z.record(z.string(), z.unknown()).optional(),
    strict: z.boolean().nullable().optional(),
  }),
});

export const chatRequestSchema = z.strictObject({
  model: z.string().min(1).max(200).optional(),
  messages: z.array(message).min(1, 'at least one message').max(2000),
  stream: z.boolean().nullable().optional(),
  stream_options: z.strictObject({ include_usage: z.boolean().optional() }).nullable().optional(),
  max_completion_tokens: z.number().int().min(1).nullable().optional(),
  /** Deprecated alias; mapped to max_completion_tokens. */
  max_tokens: z.number().int().min(1).nullable().optional(),
  n: z.literal(1, 'only n = 1 is supported (n multiplies the cost)').nullable().optional(),
  temperature: z.number().min(0).max(2).nullable().optional(),
  top_p: z.number().min(0).max(1).nullable().optional(),
  presence_penalty: z.number().min(-2).max(2).nullable().optional(),
  frequency_penalty: z.number().min(-2).max(2).nullable().optional(),
  seed: z.number().int().nullable().optional(),
  stop: z
    .union([z.string().max(256), z.array(z.string().max(256)).max(4)])
    .nullable()
    .optional(),
  response_format: z
    .union([
      z.strictObject({ type: z.literal('text') }),
      z.strictObject({ type: z.literal('json_object') }),
      z.strictObject({
        type: z.literal('json_schema'),
        json_schema: z.record(z.string(), z.unknown()),
      }),
    ])
    .optional(),
  tools: z.array(tool).max(64).optional(),
  tool_choice: z
    .union([
      z.enum(['none', 'auto', 'required']),
      z.strictObject({
        type: z.literal('function'),
        function: z.strictObject({ name: z.string().max(64) }),
      }),
    ])
    .optional(),
  parallel_tool_calls: z.boolean().optional(),
  reasoning_effort: z.enum(['minimal', 'low', 'medium', 'high']).nullable().optional(),
  /** Accepted for compatibility and dropped: the gateway never forwards candidate identifiers. */
  user: z.string().max(256).optional(),
});

export type ChatRequest = z.output<typeof chatRequestSchema>;
export type ChatMessage = ChatRequest['messages'][number];

/** Plain text of a message's content (text parts joined). */
export function contentText(c: ChatMessage['content']): string {
  if (c === null || c === undefined) return '';
  if (typeof c === 'string') return c;
  return c.length === 1 ? c[0]!.text : c.map((p) => p.text).join('');
}

/** Validates a parsed JSON body: 400 with the field and the reason, or the typed request. */
export function parseChatRequest(body: unknown, maxMessageBytes: number): ChatRequest {
  const r = chatRequestSchema.safeParse(body);
  if (!r.success)
    throw gwErrors.badRequest('Invalid chat completion request', zodFields('body', r.error));
  const req = r.data;
  // Byte length without encoding: a JS string's UTF-8 size is at most 3 × its length.
  for (let i = 0; i < req.messages.length; i++) {
    const m = req.messages[i]!;
    const text = contentText(m.content);
    if (text.length * 3 > maxMessageBytes && Buffer.byteLength(text) > maxMessageBytes) {
      throw gwErrors.badRequest(`Message ${i} is larger than ${maxMessageBytes} bytes`, {
        [`body.messages.${i}.content`]: `larger than ${maxMessageBytes} bytes`,
      });
    }
  }
  return req;
}

/**
 * Reads a node:http request body up to `max` bytes (413 beyond, from `content-length` before
 * reading when declared) and parses it as JSON (400 if not). Event callbacks, not async
 * iteration: cheaper per request. A body that is not read to its end (refused early) is
 * discarded by node:http once the response ends.
 */
export function readJsonBody(req: IncomingMessage, max: number): Promise<unknown> {
  const type = req.headers['content-type'] ?? '';
  if (!type.toLowerCase().includes('application/json'))
    return Promise.reject(gwErrors.unsupportedMediaType());
  if (Number(req.headers['content-length'] ?? NaN) > max)
    return Promise.reject(gwErrors.payloadTooLarge(max));
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const done = () => {
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('close', onClose);
    };
    const onData = (c: Buffer) => {
      size += c.length;
      if (size > max) {
        done();
        req.resume();
        reject(gwErrors.payloadTooLarge(max));
      } else chunks.push(c);
    };
    const onEnd = () => {
      done();
      const text =
        chunks.length === 1
          ? chunks[0]!.toString('utf8')
          : Buffer.concat(chunks, size).toString('utf8');
      try {
        resolve(JSON.parse(text));
      } catch {
        reject(gwErrors.badRequest('Body is not valid JSON', { body: 'not valid JSON' }));
      }
    };
    const onClose = () => {
      done();
      reject(gwErrors.badRequest('The request body was cut off', { body: 'incomplete' }));
    };
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('close', onClose);
  });
}
