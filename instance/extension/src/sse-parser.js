// @ts-check
'use strict';

/**
 * @typedef {{ event: string, data: string, id: string | undefined }} SseEvent
 */

/**
 * Incremental Server-Sent Events parser (the WHATWG event-stream format): feed it decoded text
 * as it arrives, get back the events completed by that text. Comments (heartbeats) and `retry:`
 * are dropped; an event without `event:` is a `message`. Kept here rather than as a dependency
 * because the extension ships without node_modules.
 */
class SseParser {
  constructor() {
    this.buffer = '';
    /** @type {string[]} */
    this.data = [];
    this.event = '';
    /** @type {string | undefined} */
    this.id = undefined;
    /** True when the last chunk ended in '\r' (a following '\n' belongs to the same line end). */
    this.pendingCr = false;
  }

  /**
   * @param {string} text
   * @returns {SseEvent[]}
   */
  feed(text) {
    if (this.pendingCr && text.startsWith('\n')) text = text.slice(1);
    this.pendingCr = text.endsWith('\r');
    this.buffer += text;
    /** @type {SseEvent[]} */
    const out = [];
    const lines = this.buffer.split(/\r\n|\r|\n/);
    this.buffer = lines.pop() ?? '';
    for (const line of lines) {
      if (line === '') {
        if (this.data.length > 0)
          out.push({ event: this.event || 'message', data: this.data.join('\n'), id: this.id });
        this.data = [];
        this.event = '';
        continue;
      }
      if (line.startsWith(':')) continue;
      const colon = line.indexOf(':');
      const field = colon < 0 ? line : line.slice(0, colon);
      let value = colon < 0 ? '' : line.slice(colon + 1);
      if (value.startsWith(' ')) value = value.slice(1);
      if (field === 'data') this.data.push(value);
      else if (field === 'event') this.event = value;
      else if (field === 'id' && !value.includes('\0')) this.id = value;
    }
    return out;
  }
}

/**
 * Reads a fetch Response body as SSE events, in order, until the body ends.
 * @param {ReadableStream<Uint8Array>} body
 * @param {(bytes: number) => void} [onBytes] told about every chunk (idle detection)
 * @returns {AsyncGenerator<SseEvent>}
 */
async function* readSse(body, onBytes) {
  const parser = new SseParser();
  const decoder = new TextDecoder();
  const reader = body.getReader();
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      onBytes?.(value.byteLength);
      yield* parser.feed(decoder.decode(value, { stream: true }));
    }
    // An event not terminated by a blank line when the body ends is incomplete: dropped (spec).
  } finally {
    // Ending early (return, throw, abort) must release the connection, not leave it reading.
    reader.cancel().catch(() => {});
  }
}

module.exports = { readSse };
