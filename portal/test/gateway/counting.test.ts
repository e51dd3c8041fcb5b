import { createRequire } from 'node:module';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { countText, promptSize, segments } from '@/lib/gateway/count-core.mjs';
import { TokenCounter } from '@/lib/gateway/counting';
import { encodeJsonBody } from '@/lib/gateway/json-body';
import { maxStallDuring } from './support/stall';

const { get_encoding } = createRequire(import.meta.url)('tiktoken') as typeof import('tiktoken');
const enc = get_encoding('o200k_base');
let counter: TokenCounter;
beforeAll(async () => {
  counter = new TokenCounter({ workers: 1 });
  await counter.ready();
});
afterAll(() => counter.close());

const samples = [
  'Hello, world!',
  'def f(x):\n    return x * 2  # doubled\n',
  'Ünïcødé — 日本語のテキスト 🚀🚀🚀 emoji',
  '<|endoftext|> <|im_start|>system<|im_end|> <|fim_prefix|>',
  '   many     spaces\t\ttabs\n\n\nnewlines',
  JSON.stringify({ a: [1, 2, 3], b: { c: 'd' } }),
];

describe('token counting', () => {
  it('counts exactly like tiktoken on ordinary text', () => {
    for (const s of samples) expect(countText(enc, s)).toBe(enc.encode_ordinary(s).length);
  });

  it('treats special-token text as plain text instead of throwing', async () => {
    const text = '<|endoftext|>';
    expect(() => enc.encode(text)).toThrow();
    const n = await counter.countText(text, 'gpt-4o');
    expect(n).toBe(enc.encode_ordinary(text).length);
    expect(n).toBeGreaterThan(1);
  });

  it('the UTF-8 bound is never below the exact prompt count', async () => {
    for (const s of [...samples, 'a'.repeat(5000), '🚀'.repeat(3000), ' '.repeat(4000)]) {
      const req = {
        messages: [
          { role: 'system' as const, content: 'be brief' },
          { role: 'user' as const, content: s, name: 'cand' },
        ],
      };
      const exact = await counter.countPrompt(req, 'gpt-4o-mini');
      expect(counter.bound(req)).toBeGreaterThanOrEqual(exact);
      expect(exact).toBe(promptSize(req, (t: string) => countText(enc, t)));
    }
  });

  it('cuts long runs of one character class into bounded pieces (never a surrogate pair)', () => {
    const text = 'x'.repeat(1000) + ' word ' + '🚀'.repeat(600) + ' '.repeat(700);
    const parts = [...segments(text)];
    expect(parts.join('')).toBe(text);
    for (const p of parts) expect(p.length).toBeLessThanOrEqual(1000);
    for (const p of parts) expect(/^[\uDC00-\uDFFF]/.test(p)).toBe(false);
    expect(countText(enc, 'a'.repeat(4096))).toBe(enc.encode_ordinary('a'.repeat(4096)).length);
  });

  it('counts 1 MB hostile messages in the worker without blocking the event loop for 50 ms', async () => {
    const hostile = [
      'a'.repeat(1_000_000),
      '<|endoftext|>'.repeat(77_000),
      'z'.repeat(300_000) + ' '.repeat(200_000) + '!'.repeat(200_000) + '日'.repeat(100_000),
    ];
    const { result, maxStallMs, maxBlockMs } = await maxStallDuring(() =>
      Promise.all(
        hostile.map((content) =>
          counter.countPrompt({ messages: [{ role: 'user', content }] }, 'gpt-4o'),
        ),
      ),
    );
    expect(result[0]).toBe(125_000 + 3 + 1 + 3);
    for (const n of result) expect(n).toBeGreaterThan(1000);
    expect(
      maxBlockMs,
      `longest block ${maxBlockMs.toFixed(1)} ms on CPU (${maxStallMs.toFixed(1)} ms wall)`,
    ).toBeLessThan(50);
  });

  it('encodes a 1 MB request body in slices to exactly what JSON.stringify gives', async () => {
    const big = ('🚀"\\\n<|endoftext|>' + 'x'.repeat(131_067)).repeat(8); // surrogate pairs across slice edges
    const body = {
      model: 'm',
      messages: [
        { role: 'system', content: 'short' },
        { role: 'user', content: big, name: 'n' },
        { role: 'user', content: [{ type: 'text', text: big }] },
      ],
      stream: true,
    };
    const { result, maxBlockMs } = await maxStallDuring(() => encodeJsonBody(body));
    expect(JSON.parse(Buffer.from(result).toString('utf8'))).toEqual(body);
    expect(maxBlockMs).toBeLessThan(50);
  });

  it('bounds a 1 MB prompt on the event loop in well under a millisecond per 100 KB', async () => {
    const req = { messages: [{ role: 'user' as const, content: 'q'.repeat(1_000_000) }] };
    const t0 = performance.now();
    const b = counter.bound(req);
    expect(performance.now() - t0).toBeLessThan(20);
    expect(b).toBeGreaterThanOrEqual(1_000_000);
  });
});
