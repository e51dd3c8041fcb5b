// @ts-check
/**
 * Token-counting rules shared by the gateway (bound on the event loop, exact counts in the
 * worker) and the test upstream. Plain JavaScript so the worker thread loads it without a
 * TypeScript loader. Keep `promptSize` the single definition of how a prompt is sized: the
 * cheap bound and the exact count must walk the same parts, or the bound stops being one.
 */

/** Tokens OpenAI adds around each chat message (cl100k/o200k models). */
export const MESSAGE_OVERHEAD = 3;
/** Extra token when a message carries `name`. */
export const NAME_OVERHEAD = 1;
/** Tokens that prime the assistant's reply. */
export const REPLY_PRIMING = 3;

/**
 * Longest run of one character class handed to BPE in one piece. BPE is quadratic in a
 * pre-tokenized piece (1,024 'a's take ~2 ms, 8,192 take ~80 ms, 100 K take seconds), so long
 * runs are cut into pieces of this size: 1 MB of one character then counts in ~0.4 s in the
 * worker. A cut only prevents merges across it, so in practice a count can only come out a
 * token or so high per cut (equal for runs of one character: 256 is a multiple of their merges).
 */
export const MAX_RUN = 256;
const LONG_RUN = /[\p{L}\p{M}]{257,}|\s{257,}|[^\s\p{L}\p{M}\p{N}]{257,}/gu;

/**
 * Pieces of `text` safe to encode one by one.
 * @param {string} text
 * @returns {Generator<string>}
 */
export function* segments(text) {
  LONG_RUN.lastIndex = 0;
  let pos = 0;
  for (let m = LONG_RUN.exec(text); m; m = LONG_RUN.exec(text)) {
    if (m.index > pos) yield text.slice(pos, m.index);
    const end = m.index + m[0].length;
    for (let i = m.index; i < end;) {
      let j = Math.min(i + MAX_RUN, end);
      // Never split a surrogate pair.
      if (j < end && (text.charCodeAt(j) & 0xfc00) === 0xdc00) j--;
      yield text.slice(i, j);
      i = j;
    }
    pos = end;
  }
  if (pos < text.length) yield pos === 0 ? text : text.slice(pos);
}

/**
 * Tokens of `text` with special-token text (`<|endoftext|>`) treated as plain text.
 * @param {{ encode_ordinary(text: string): Uint32Array }} enc
 * @param {string} text
 */
export function countText(enc, text) {
  let n = 0;
  for (const s of segments(text)) n += enc.encode_ordinary(s).length;
  return n;
}

/**
 * @param {unknown} c
 * @returns {string}
 */
export function contentText(c) {
  if (c === null || c === undefined) return '';
  if (typeof c === 'string') return c;
  if (Array.isArray(c))
    return c.map((p) => (p && typeof p.text === 'string' ? p.text : '')).join('');
  return '';
}

/**
 * Size of a chat prompt under `measure`: UTF-8 bytes give an upper bound on tokens for
 * byte-level BPE (every token is at least one byte); a tokenizer's count gives the exact size.
 * @param {{ messages: Array<{ role: string, content?: unknown, name?: string, tool_calls?: unknown, tool_call_id?: string }>, tools?: unknown, response_format?: { type: string, json_schema?: unknown } }} req
 * @param {(text: string) => number} measure
 */
export function promptSize(req, measure) {
  let n = REPLY_PRIMING;
  for (const m of req.messages) {
    n += MESSAGE_OVERHEAD + measure(m.role) + measure(contentText(m.content));
    if (m.name) n += NAME_OVERHEAD + measure(m.name);
    if (m.tool_calls) n += measure(JSON.stringify(m.tool_calls));
    if (m.tool_call_id) n += measure(m.tool_call_id);
  }
  if (req.tools) n += measure(JSON.stringify(req.tools));
  if (req.response_format && req.response_format.type === 'json_schema') {
    n += measure(JSON.stringify(req.response_format.json_schema));
  }
  return n;
}

/**
 * The tiktoken encoding for a model name; unknown models count with o200k_base.
 * @param {string | undefined} model
 * @returns {'o200k_base' | 'cl100k_base'}
 */
export function encodingForModel(model) {
  const m = (model ?? '').toLowerCase().replace(/^.*\//, '');
  if (/^(gpt-4o|gpt-4\.1|gpt-4\.5|gpt-5|o\d|chatgpt-4o|gpt-oss)/.test(m)) return 'o200k_base';
  if (/^(gpt-4|gpt-3\.5|text-embedding)/.test(m)) return 'cl100k_base';
  return 'o200k_base';
}
