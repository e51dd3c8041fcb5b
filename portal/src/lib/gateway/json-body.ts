/**
 * Serializes a chat request body to JSON bytes without blocking the event loop on big prompts:
 * JSON.stringify of a 1 MB string takes ~8 ms in one piece, so long strings are serialized in
 * slices with a yield between them. Small bodies take the one-call path.
 *
 * Slicing a string at any index is safe for JSON: a surrogate pair split in two comes out as
 * two `\uXXXX` escapes, which a JSON parser joins back into the same characters.
 */
const SMALL = 64 * 1024;
const SLICE = 128 * 1024;

const yieldNow = () => new Promise<void>((r) => setImmediate(r));

export async function encodeJsonBody(
  body: Record<string, unknown> & { messages: { content?: unknown }[] },
): Promise<Uint8Array> {
  if (!hasLongString(body.messages)) return Buffer.from(JSON.stringify(body), 'utf8');
  const { messages, ...rest } = body;
  const parts: Buffer[] = [];
  const head = JSON.stringify(rest);
  parts.push(
    Buffer.from(head.length > 2 ? `${head.slice(0, -1)},"messages":[` : '{"messages":[', 'utf8'),
  );
  for (let i = 0; i < messages.length; i++) {
    if (i > 0) parts.push(Buffer.from(','));
    const m = messages[i]!;
    const c = m.content;
    if (typeof c === 'string' && c.length > SMALL) {
      const skeleton = JSON.stringify({ ...m, content: '\u0000' });
      const at = skeleton.indexOf('"\\u0000"');
      parts.push(Buffer.from(skeleton.slice(0, at) + '"', 'utf8'));
      for (let j = 0; j < c.length; j += SLICE) {
        parts.push(Buffer.from(JSON.stringify(c.slice(j, j + SLICE)).slice(1, -1), 'utf8'));
        await yieldNow();
      }
      parts.push(Buffer.from('"' + skeleton.slice(at + 8), 'utf8'));
    } else if (
      Array.isArray(c) &&
      c.some((p: { text?: string }) => typeof p?.text === 'string' && p.text.length > SMALL)
    ) {
      const pieces: string[] = [];
      for (const p of c as { text?: string }[]) {
        pieces.push(JSON.stringify(p));
        await yieldNow();
      }
      const skeleton = JSON.stringify({ ...m, content: '\u0000' });
      const at = skeleton.indexOf('"\\u0000"');
      parts.push(
        Buffer.from(
          skeleton.slice(0, at) + '[' + pieces.join(',') + ']' + skeleton.slice(at + 8),
          'utf8',
        ),
      );
    } else {
      parts.push(Buffer.from(JSON.stringify(m), 'utf8'));
    }
  }
  parts.push(Buffer.from(']}'));
  return Buffer.concat(parts);
}

function hasLongString(messages: { content?: unknown }[]): boolean {
  let total = 0;
  for (const m of messages) {
    const c = m.content;
    if (typeof c === 'string') total += c.length;
    else if (Array.isArray(c))
      for (const p of c as { text?: unknown }[])
        if (typeof p?.text === 'string') total += p.text.length;
    if (total > SMALL) return true;
  }
  return false;
}
