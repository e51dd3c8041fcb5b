import { StringDecoder } from 'node:string_decoder';

/** What happens to one event: sent on as it came, kept from the client, or the end of reading. */
export type EventVerdict = 'forward' | 'hide' | 'stop';

export interface SseRelayHandlers {
  /** One event's data (the `data:` lines joined); parse it here, once. */
  event(data: string): EventVerdict;
  /** An event grew past the size limit without ending: the stream is unusable. */
  overflow(): void;
}

const DATA = 'data: ';

/**
 * Cuts a provider's Server-Sent Events into events and decides the bytes the client gets, with
 * as little work per upstream read as possible: each read is split at blank lines, each event's
 * data goes to `event()` once, and when every event of the read is forwarded unchanged (the
 * usual case: whole `data: …` events per read) the read's own bytes are forwarded — no copy and
 * no re-serialization. A read that ends inside an event, hides one (the usage chunk), or uses
 * other SSE syntax (CR line ends, comments, multi-line data, other fields) is re-emitted as
 * plain `data:` events instead. An incomplete event at the end of the stream is dropped.
 */
export class SseRelay {
  private readonly decoder = new StringDecoder('utf8');
  private pending = '';
  private stopped = false;

  constructor(
    private readonly h: SseRelayHandlers,
    private readonly maxEventChars: number,
  ) {}

  /** The bytes to send the client for this upstream read ('' for none). */
  feed(chunk: Uint8Array): Uint8Array | string {
    if (this.stopped) return '';
    let text = this.decoder.write(chunk as Buffer);
    // The read's bytes can go out as they are only if it starts and ends on event boundaries.
    let verbatim = this.pending.length === 0;
    if (!verbatim) text = this.pending + text;
    let carry = '';
    if (text.includes('\r')) {
      verbatim = false;
      // A CR at the very end may be the first half of a CRLF: decide once the next read comes.
      if (text.endsWith('\r')) {
        carry = '\r';
        text = text.slice(0, -1);
      }
      text = text.replace(/\r\n?/g, '\n');
    }
    const last = text.lastIndexOf('\n\n');
    if (last < 0) {
      this.hold(text + carry);
      return '';
    }
    this.hold(last + 2 < text.length ? text.slice(last + 2) + carry : carry);
    if (this.pending.length > 0) verbatim = false;

    let forwarded: string[] | undefined;
    let single: string | undefined;
    for (let pos = 0; pos < last + 2 && !this.stopped;) {
      const end = text.indexOf('\n\n', pos);
      if (end < 0 || end > last) break; // only the rest of a longer run of newlines
      let data: string | undefined;
      if (text.startsWith(DATA, pos) && text.indexOf('\n', pos) === end)
        data = text.slice(pos + DATA.length, end);
      else {
        verbatim = false;
        data = dataOf(text.slice(pos, end));
      }
      pos = end + 2;
      if (data === undefined) continue;
      const verdict = this.h.event(data);
      if (verdict === 'forward') {
        if (single === undefined && !forwarded) single = data;
        else (forwarded ??= [single!]).push(data);
      } else {
        verbatim = false;
        if (verdict === 'stop') this.stopped = true;
      }
    }
    if (verbatim) return chunk;
    if (forwarded) return forwarded.map(frame).join('');
    return single === undefined ? '' : frame(single);
  }

  private hold(rest: string): void {
    this.pending = rest;
    if (rest.length > this.maxEventChars) {
      this.stopped = true;
      this.pending = '';
      this.h.overflow();
    }
  }
}

/** One event's data per the SSE rules: `data` lines joined with newlines; comments and other fields ignored. */
function dataOf(block: string): string | undefined {
  let data: string | undefined;
  for (const line of block.split('\n')) {
    if (line.length === 0 || line.charCodeAt(0) === 58 /* ':' comment */) continue;
    const colon = line.indexOf(':');
    const field = colon < 0 ? line : line.slice(0, colon);
    if (field !== 'data') continue;
    const value =
      colon < 0 ? '' : line.slice(line.charCodeAt(colon + 1) === 32 ? colon + 2 : colon + 1);
    data = data === undefined ? value : `${data}\n${value}`;
  }
  return data;
}

function frame(data: string): string {
  return data.includes('\n') ? `data: ${data.replace(/\n/g, '\ndata: ')}\n\n` : `data: ${data}\n\n`;
}
